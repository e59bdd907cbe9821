// The framework's name and layout of each stored parameter: what `export-weights` keys a state dict
// by, so a PyTorch user can load the new weights with load_state_dict.
//
// Names, first rule that gives one wins (kNameRules in the .cc):
//   name map     the user's --name-map entry for the tensor
//   kept         the initializer kept its module name ("layer1.0.conv1.weight"); every Identity output
//                that aliases it under another module name (torch.onnx stores equal tensors once and
//                hands the duplicates out through Identity nodes) is exported under that name too
//   sibling bias a renamed weight ("onnx::MatMul_1234") whose layer's bias kept its name: "fc.bias" ->
//                "fc.weight", "self_attn.in_proj_bias" -> "self_attn.in_proj_weight"
//   node scope   the layer node's scope as torch.onnx writes it: "/encoder/layer.0/attention/self/query/
//                MatMul" -> "encoder.layer.0.attention.self.query" + ".weight" / ".bias" / ".running_mean"
//   recurrent    an LSTM/GRU/RNN's W, R and B become torch.nn.LSTM's weight_ih_l{k}, weight_hh_l{k},
//                bias_ih_l{k} and bias_hh_l{k} (with "_reverse" for the second direction), k counting
//                the nodes of the same module in graph order
// What no rule names is reported with the reason and left out, never guessed: a Conv whose weight and
// bias were both renamed holds a BatchNorm folded into it (values of two modules in one tensor).
//
// Layouts: a renamed weight that a MatMul (or a Gemm without transB) reads as [in, out] is the
// exporter's transpose of a torch [out, in] weight and is written back transposed; a tensor that kept
// its name keeps its stored layout (GPT-2's Conv1D really is [in, out]). Recurrent weights are cut per
// direction and their gate blocks put in torch's order (LSTM i,f,g,o from ONNX i,o,f,c; GRU r,z,n from
// ONNX z,r,h). Fused QKV projections stay fused, as torch stores them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "passes/graph/graph_index.h"
#include "passes/graph/param_table.h"

namespace reinit {

// A run of stored elements: the framework tensor is its runs one after another (then transposed).
struct ElementRun {
  int64_t start = 0, count = 0;
};

struct FrameworkTensor {
  std::string key;                  // the state-dict name
  const ParamRow* row = nullptr;    // the stored tensor's row
  std::vector<int64_t> shape;       // the framework's shape
  std::vector<ElementRun> runs;     // stored elements, in order
  bool transpose = false;           // the runs form shape[1] x shape[0] elements, written transposed
  std::string layout;               // "as stored", "transposed", "direction 1, gates i,f,g,o", ...
  std::string named_by;             // which rule gave the name
};

struct UnnamedTensor {
  std::string tensor, reason;
};

// The framework tensors of the rows `wanted` accepts (one entry per stored tensor; pieces of one tensor
// count once), and the tensors that could not be named. `name_map`: ONNX tensor name -> framework name.
std::vector<FrameworkTensor> FrameworkNames(const ParamTable& table, const GraphIndex& index,
                                            const std::function<bool(const ParamRow&)>& wanted,
                                            const std::map<std::string, std::string>& name_map,
                                            std::vector<UnnamedTensor>* unnamed);

// True for a name an exporter generated rather than kept from the module ("onnx::MatMul_12",
// "/fc/Constant_output_0", "Constant_3", "x.untied.1").
bool ExporterGenerated(const std::string& name);

// "encoder.layer.0.attention.self.query" from "/encoder/layer.0/attention/self/query/MatMul"; "" when
// the node name carries no module scope.
std::string ModulePathOf(const std::string& node_name);

}  // namespace reinit
