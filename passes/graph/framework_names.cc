#include "passes/graph/framework_names.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

namespace reinit {

namespace {

bool IsOnnxOp(const onnx::NodeProto& node, const char* op) {
  return node.op_type() == op && (node.domain().empty() || node.domain() == "ai.onnx");
}

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A dotted path of identifiers and indices, not all indices: "layer1.0.conv1.weight", "0.weight" (a
// Sequential at the root), but not "123" (older exporters number anonymous tensors).
bool DottedIdentifier(const std::string& name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  bool word = false;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == '.' ? name[i + 1] == '.' : !(std::isalnum(c) || c == '_')) return false;
    word = word || (c != '.' && !std::isdigit(c));
  }
  return word;
}

// The framework's name of a tensor role, after the module path.
const std::pair<Role, const char*> kRoleSuffixes[] = {
    {Role::kWeight, "weight"},         {Role::kEmbedding, "weight"},       {Role::kBias, "bias"},
    {Role::kNormScale, "weight"},      {Role::kNormBias, "bias"},          {Role::kNormMean, "running_mean"},
    {Role::kNormVar, "running_var"},   {Role::kPReluSlope, "weight"},
};

const char* SuffixOf(Role role) {
  for (const auto& [r, suffix] : kRoleSuffixes) {
    if (r == role) return suffix;
  }
  return nullptr;
}

// torch's gate order as blocks of the ONNX layout (ONNX LSTM i,o,f,c; GRU z,r,h; torch.nn.LSTM
// i,f,g,o; torch.nn.GRU r,z,n: torch/nn/modules/rnn.py and the ONNX operator specification).
struct GateOrder {
  const char* op;
  std::vector<int> onnx_blocks;  // torch gate t is ONNX block onnx_blocks[t]
  const char* text;
};
const GateOrder kGateOrders[] = {
    {"LSTM", {0, 2, 3, 1}, "gates i,f,g,o from ONNX i,o,f,c"},
    {"GRU", {1, 0, 2}, "gates r,z,n from ONNX z,r,h"},
    {"RNN", {0}, "one gate"},
};

struct Naming {
  std::vector<std::string> keys;  // several for a tensor torch.onnx stored once for equal parameters
  std::string how;
  std::string refusal;  // set: the tensor cannot be named, and why
};

struct Context {
  const ParamTable& table;
  const GraphIndex& index;
  const std::map<std::string, std::string>& name_map;
};

using NameRule = std::optional<Naming> (*)(const ParamRow&, const Context&);

std::optional<Naming> FromNameMap(const ParamRow& row, const Context& c) {
  auto it = c.name_map.find(row.name);
  if (it == c.name_map.end()) return std::nullopt;
  return Naming{{it->second}, "name map", ""};
}

// Identity outputs that hand the tensor out under another name, followed through chains.
void Aliases(const std::string& value, const GraphIndex& index, int depth, std::vector<std::string>* out) {
  if (depth > 16) return;
  for (const Use& use : index.Consumers(value)) {
    if (!IsOnnxOp(*use.node, "Identity") || use.node->output_size() == 0) continue;
    const std::string& alias = use.node->output(0);
    if (!ExporterGenerated(alias)) out->push_back(alias);
    Aliases(alias, index, depth + 1, out);
  }
}

std::optional<Naming> KeptName(const ParamRow& row, const Context& c) {
  Naming n;
  if (!ExporterGenerated(row.name)) n.keys.push_back(row.name);
  Aliases(row.name, c.index, 0, &n.keys);
  if (n.keys.empty()) return std::nullopt;
  n.how = ExporterGenerated(row.name) ? "identity alias" : n.keys.size() > 1 ? "kept, and its identity aliases" : "kept";
  return n;
}

// A Conv whose weight and bias were both renamed: torch.onnx folded a BatchNorm into it, so the values
// belong to two modules and neither name would load them correctly.
std::optional<Naming> FoldedNorm(const ParamRow& row, const Context&) {
  const onnx::NodeProto* layer = row.layer();
  if (layer == nullptr || !(IsOnnxOp(*layer, "Conv") || IsOnnxOp(*layer, "ConvTranspose"))) return std::nullopt;
  if (layer->input_size() < 3 || layer->input(2).empty()) return std::nullopt;
  if (!ExporterGenerated(layer->input(1)) || !ExporterGenerated(layer->input(2))) return std::nullopt;
  return Naming{{}, "", "the exporter folded a normalization into this " + layer->op_type() +
                            " (its weight and bias were both renamed): export the model with the normalization kept "
                            "(torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE) or "
                            "do_constant_folding=False), or name it with --name-map"};
}

// The bias beside a renamed weight: the layer's own bias input, or the Add right after a MatMul.
std::optional<Naming> SiblingBias(const ParamRow& row, const Context& c) {
  const onnx::NodeProto* layer = row.layer();
  if (row.role != Role::kWeight || layer == nullptr) return std::nullopt;
  std::vector<std::string> biases;
  if ((IsOnnxOp(*layer, "Conv") || IsOnnxOp(*layer, "ConvTranspose") || IsOnnxOp(*layer, "Gemm")) &&
      layer->input_size() > 2) {
    biases.push_back(layer->input(2));
  } else if (IsOnnxOp(*layer, "MatMul") && layer->output_size() > 0) {
    for (const Use& use : c.index.Consumers(layer->output(0))) {
      if (IsOnnxOp(*use.node, "Add") && use.node->input_size() == 2) biases.push_back(use.node->input(1 - use.index));
    }
  }
  for (const std::string& bias : biases) {
    const onnx::NodeProto* producer = c.index.Producer(bias);
    const bool constant = c.index.ConstantValue(bias) != nullptr || (producer != nullptr && IsOnnxOp(*producer, "Identity"));
    const std::string suffix = "bias";
    if (!constant || ExporterGenerated(bias) || bias.size() <= suffix.size() ||
        bias.compare(bias.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    return Naming{{bias.substr(0, bias.size() - suffix.size()) + "weight"}, "beside its bias '" + bias + "'", ""};
  }
  return std::nullopt;
}

// The module path of the layer node, when exactly one layer in that module has a tensor of this role
// (several, as in nn.MultiheadAttention's functional projections, would be a guess).
std::optional<Naming> NodeScope(const ParamRow& row, const Context& c) {
  const onnx::NodeProto* layer = row.layer();
  const char* suffix = SuffixOf(row.role);
  if (layer == nullptr || suffix == nullptr) return std::nullopt;
  const std::string path = ModulePathOf(layer->name());
  if (path.empty()) return std::nullopt;
  std::set<const onnx::NodeProto*> layers;
  for (const ParamRow& other : c.table) {
    if (other.role == row.role && other.layer() != nullptr && ModulePathOf(other.layer()->name()) == path) {
      layers.insert(other.layer());
    }
  }
  if (layers.size() > 1) {
    return Naming{{}, "", "its node's scope '" + path + "' holds " + std::to_string(layers.size()) + " layers with a " +
                              NameOf(row.role) + ", so it is no single torch module: name it with --name-map"};
  }
  return Naming{{path + "." + suffix}, "from the scope of node '" + layer->name() + "'", ""};
}

const NameRule kNameRules[] = {FromNameMap, KeptName, FoldedNorm, SiblingBias, NodeScope};

// The layout of a tensor named by one of the rules above: as stored, or transposed back to [out, in].
void PlainLayout(const ParamRow& row, FrameworkTensor* t) {
  t->shape.assign(row.tensor->dims().begin(), row.tensor->dims().end());
  t->runs = {{0, Product(t->shape)}};
  t->layout = "as stored";
  const LayerUse* use = row.primary_use();
  if (row.role != Role::kWeight || use == nullptr || t->shape.size() != 2 || !ExporterGenerated(row.name)) return;
  // The layer reads [in, out]: MatMul's B, Gemm's B without transB.
  const onnx::NodeProto& layer = *use->layer;
  const bool in_out = use->layer_input == 1 && (IsOnnxOp(layer, "MatMul") ||
                                                (IsOnnxOp(layer, "Gemm") && IntAttr(layer, "transB", 0) == 0));
  const bool stored_transposed = std::count(use->through.begin(), use->through.end(), "Transpose") % 2 == 1;
  if (in_out == stored_transposed) return;
  t->shape = {t->shape[1], t->shape[0]};
  t->transpose = true;
  t->layout = "transposed from the exporter's [in, out]";
}

// The module path and layer number of a recurrent node: torch.onnx writes one node per layer of a
// multi-layer nn.LSTM, in order, in the module's scope ("/lstm/LSTM", "/lstm/LSTM_1").
std::optional<std::pair<std::string, int>> RecurrentLayer(const onnx::NodeProto& node, const Context& c) {
  const std::string path = ModulePathOf(node.name());
  if (path.empty()) return std::nullopt;
  std::set<const onnx::NodeProto*> nodes;
  for (const ParamRow& row : c.table) {
    const onnx::NodeProto* l = row.layer();
    if (l != nullptr && l->op_type() == node.op_type() && ModulePathOf(l->name()) == path) nodes.insert(l);
  }
  std::vector<const onnx::NodeProto*> ordered(nodes.begin(), nodes.end());
  std::sort(ordered.begin(), ordered.end(), [&](const onnx::NodeProto* a, const onnx::NodeProto* b) {
    return c.index.TopologicalKey(*a) < c.index.TopologicalKey(*b);
  });
  const int k = static_cast<int>(std::find(ordered.begin(), ordered.end(), &node) - ordered.begin());
  return std::pair{path, k};
}

// torch.nn.LSTM/GRU/RNN's tensors from an ONNX recurrent node's W, R or B, or the reason there are none.
std::string RecurrentTensors(const ParamRow& row, const Context& c, std::vector<FrameworkTensor>* out) {
  const onnx::NodeProto& node = *row.layer();
  const GateOrder* order = nullptr;
  for (const GateOrder& o : kGateOrders) {
    if (IsOnnxOp(node, o.op)) order = &o;
  }
  if (order == nullptr) return "a recurrent weight of " + node.op_type() + ", which torch.nn has no module for";
  if (IsOnnxOp(node, "GRU") && IntAttr(node, "linear_before_reset", 0) == 0) {
    return "a GRU with linear_before_reset=0, which torch.nn.GRU does not compute";
  }
  const std::string direction = StringAttr(node, "direction", "forward");
  if (direction == "reverse") return "a recurrent layer that runs only in reverse, which torch.nn has no module for";
  const auto where = RecurrentLayer(node, c);
  if (!where) return "its " + node.op_type() + " node '" + node.name() + "' carries no module scope: name it with --name-map";
  const int64_t directions = direction == "bidirectional" ? 2 : 1;
  const int64_t gates = static_cast<int64_t>(order->onnx_blocks.size());
  const int64_t total = Product(std::vector<int64_t>(row.tensor->dims().begin(), row.tensor->dims().end()));
  int64_t hidden = IntAttr(node, "hidden_size", 0);
  if (hidden <= 0 || total % (directions * gates * hidden) != 0) return "its shape does not fit the node's hidden_size";
  const int64_t per_direction = total / directions;
  const std::string layer = "_l" + std::to_string(where->second);
  for (int64_t d = 0; d < directions; ++d) {
    const std::string tail = layer + (d == 1 ? "_reverse" : "");
    // W and R: [gates * H, cols] per direction; B: [Wb | Rb], each gates * H.
    const bool bias = row.role == Role::kRecurrentBias;
    const int64_t cols = bias ? 1 : per_direction / (gates * hidden);
    const std::vector<std::pair<std::string, int64_t>> parts =
        bias ? std::vector<std::pair<std::string, int64_t>>{{"bias_ih", 0}, {"bias_hh", gates * hidden}}
             : std::vector<std::pair<std::string, int64_t>>{
                   {row.role == Role::kRecurrentInput ? "weight_ih" : "weight_hh", 0}};
    for (const auto& [name, offset] : parts) {
      FrameworkTensor t;
      t.key = where->first + "." + name + tail;
      t.row = &row;
      t.shape = bias ? std::vector<int64_t>{gates * hidden} : std::vector<int64_t>{gates * hidden, cols};
      for (int b : order->onnx_blocks) t.runs.push_back({d * per_direction + offset + b * hidden * cols, hidden * cols});
      t.layout = std::string(directions == 2 ? "direction " + std::to_string(d) + ", " : "") + order->text;
      t.named_by = "the recurrent layer '" + node.name() + "'";
      out->push_back(std::move(t));
    }
  }
  return "";
}

}  // namespace

bool ExporterGenerated(const std::string& name) {
  if (!DottedIdentifier(name)) return true;  // "onnx::MatMul_1", "/fc/Constant_output_0", "123"
  if (name.find(".untied.") != std::string::npos) return true;
  // torch.onnx's anonymous constants and node outputs: "Constant_12", "Identity_3", "_v_7".
  static const char* kPrefixes[] = {"Constant_", "Identity_", "_v_", "val_", "const_fold_opt__"};
  for (const char* p : kPrefixes) {
    const std::string prefix = p;
    if (name.compare(0, prefix.size(), prefix) == 0 &&
        name.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string ModulePathOf(const std::string& node_name) {
  if (node_name.size() < 2 || node_name[0] != '/') return "";
  std::vector<std::string> parts;
  size_t begin = 1;
  while (true) {
    const size_t end = node_name.find('/', begin);
    if (end == std::string::npos) break;  // the last part is the op ("MatMul", "Gemm_1")
    const std::string part = node_name.substr(begin, end - begin);
    // torch.onnx names a container's child by its qualified name: "/layer1/layer1.0/conv1/Conv"
    // is module layer1.0.conv1.
    if (!parts.empty() && part.compare(0, parts.back().size() + 1, parts.back() + ".") == 0) {
      parts.back() = part;
    } else if (!part.empty()) {
      parts.push_back(part);
    }
    begin = end + 1;
  }
  std::string path;
  for (const auto& p : parts) path += (path.empty() ? "" : ".") + p;
  return DottedIdentifier(path) ? path : "";
}

std::vector<FrameworkTensor> FrameworkNames(const ParamTable& table, const GraphIndex& index,
                                            const std::function<bool(const ParamRow&)>& wanted,
                                            const std::map<std::string, std::string>& name_map,
                                            std::vector<UnnamedTensor>* unnamed) {
  const Context c{table, index, name_map};
  std::vector<FrameworkTensor> out;
  std::set<const onnx::TensorProto*> seen;  // pieces of one tensor are exported once, whole
  for (const ParamRow& row : table) {
    if (!wanted(row) || !seen.insert(row.tensor).second) continue;
    auto refuse = [&](const std::string& reason) { unnamed->push_back({row.name, reason}); };
    if (row.quantized) {
      refuse("a quantized tensor: its framework holds the float weight it was quantized from");
      continue;
    }
    if (IsRecurrentWeight(row.role) || row.role == Role::kRecurrentBias) {
      if (!name_map.count(row.name)) {
        const std::string reason = RecurrentTensors(row, c, &out);
        if (!reason.empty()) refuse(reason);
        continue;
      }
    }
    std::optional<Naming> naming;
    for (NameRule rule : kNameRules) {
      if ((naming = rule(row, c))) break;
    }
    if (!naming) {
      refuse(row.layer() == nullptr ? "no layer reads it and its name is the exporter's"
                                    : "its name is the exporter's and neither a bias beside it nor its node's scope names it");
      continue;
    }
    if (!naming->refusal.empty()) {
      refuse(naming->refusal);
      continue;
    }
    for (const std::string& key : naming->keys) {
      FrameworkTensor t;
      t.key = key;
      t.row = &row;
      PlainLayout(row, &t);
      t.named_by = naming->how;
      out.push_back(std::move(t));
    }
  }
  // Two tensors under one name would load whichever comes last: neither is exported.
  std::map<std::string, int> count;
  for (const auto& t : out) ++count[t.key];
  std::vector<FrameworkTensor> unique;
  for (auto& t : out) {
    if (count[t.key] == 1) {
      unique.push_back(std::move(t));
    } else {
      unnamed->push_back({t.row->name, "another tensor would be exported as '" + t.key + "' too"});
    }
  }
  return unique;
}

}  // namespace reinit
