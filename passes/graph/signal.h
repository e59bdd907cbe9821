// What the network does to a signal, predicted from the graph and its weights' statistics alone: no
// data, no execution. Mean-field theory of signal propagation (Poole et al. 2016, "Exponential
// expressivity in deep neural networks through transient chaos"; Schoenholz et al. 2017, "Deep
// information propagation"): every value carries the mean and second moment of its elements, forward
// for inputs of std `input_std`, and every value the second moment of its gradient, backward for a
// unit gradient at the outputs. The rules, one per kind of op, are in signal.cc (the table at its top).
//
// Elementwise ops are not approximated one by one: a value computed from one layer's output z by
// elementwise ops and scalar constants (GELU as x * 0.5 * (1 + Erf(x / sqrt 2)), SiLU as x * Sigmoid(x))
// is kept as a function f(z) of that Gaussian z, and its moments are taken over z by quadrature
// (passes/graph/gaussian_moments.h), so a decomposed activation is as exact as a fused one.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"

namespace reinit {

struct SignalOptions {
  double input_std = 1;        // std of every float input's elements (mean 0)
  bool bn_inference = false;   // BatchNormalization with its running statistics, not batch statistics
  // Finite-width correction (signal.cc, ScaleMixture): off, every rule is the infinite-width mean field.
  bool finite_width = true;
  // Solve each plain layer's weight scale so its predicted pre-activation second moment equals that of
  // the signal entering the chain (data-free LSUV); layers that end a residual branch keep theirs.
  bool preserve = false;
  // Which weights preserve may scale (the audit-signal pass: the re-initialized ones at random).
  std::function<bool(const ParamRow&)> may_scale;
};

// E[w] and E[w^2] of a tensor's elements; `planned`: what a rewrite will write, not what is stored (so
// the stored values must not be read), with `constant` when every element will be that number.
struct TensorMoments {
  double mean = 0, second = 0;
  bool planned = false;
  std::optional<double> constant;
};
using MomentsOf = std::function<std::optional<TensorMoments>(const ParamRow& row)>;

struct LayerSignal {
  std::string name, op, weight, activation;  // the node's label, its op, the weight's name
  int depth = 0;             // layers on the longest path from an input, this one included
  int64_t fan_in = 0;
  // Predicted std of the layer's output before its activation (after its bias, and any per-channel
  // shift and scale before the nonlinearity), after the activation, and of the gradient at its input.
  // NaN when the signal could not reach the layer.
  double forward_std = 0, activation_std = 0, backward_std = 0;
  double gain_factor = 1;  // preserve: what the weight's std was multiplied by
  bool residual_end = false;  // the layer ends a residual branch
  bool zero_weights = false;  // its weights are all 0 (a zero-initialized branch end): no endpoint of a ratio
};

struct SignalAudit {
  double input_std = 1;
  std::vector<LayerSignal> layers;  // in topological order
  // Last layer's forward_std over the first's, and the first's backward_std over the last's; with three
  // layers or more the head (the last layer) is left out, its std being more about its width, and so are
  // layers whose weights are all 0 (Fixup's and --residual-scaling zero's branch ends carry no signal by
  // design, and the stream they add to goes on), and for the gradient the layers it does not reach (the
  // rest of such a branch).
  double forward_ratio = 0, backward_ratio = 0;
  std::string forward_verdict, backward_verdict;  // stable | vanishing | exploding
  // Ops without a rule of their own, passed through as identity (op type -> nodes): the prediction is
  // approximate after them.
  std::map<std::string, int> passed_through;
};

// The band a ratio must stay in to be called stable.
inline constexpr double kStableLow = 0.5, kStableHigh = 2.0;
std::string SignalVerdict(double ratio);

SignalAudit PropagateSignal(const onnx::ModelProto& model, const GraphIndex& index, const ParamTable& table,
                            const MomentsOf& moments, const SignalOptions& options);

}  // namespace reinit
