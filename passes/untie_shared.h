// --untie-shared: gives every layer that shares a parameter tensor its own copy, so each is decided
// and re-initialized on its own. Runs find-params on the model as it is, then, for every tensor that
// reaches layers through more than one node input, adds a copy "<name>.untied.<k>" (an initializer
// of the graph that holds the original) for each further node input and points that input at it.
// A tensor whose several layers share one path (W -> Transpose -> two MatMuls) is untied up to where
// the paths split, i.e. not at all: the report still lists the conflict.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/graph/status.h"

namespace reinit {

// Unties shared parameters in place. `copies` receives (original key, copy name) pairs so that the
// caller can carry per-tensor state (external data) over to the copies. The untie-shared pass
// (passes/passes.h) runs it and does that.
Status UntieShared(onnx::ModelProto* model, std::vector<std::pair<std::string, std::string>>* copies);

}  // namespace reinit
