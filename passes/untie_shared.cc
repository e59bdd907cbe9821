#include "passes/untie_shared.h"

#include <algorithm>
#include <map>
#include <set>

#include "passes/graph/graph_index.h"
#include "passes/io/external_data.h"
#include "passes/passes.h"

namespace reinit {

Status UntieShared(onnx::ModelProto* model, std::vector<std::pair<std::string, std::string>>* copies) {
  struct Plan {
    onnx::GraphProto* graph;
    onnx::TensorProto tensor;  // the copy, already renamed
    std::vector<std::pair<onnx::NodeProto*, int>> entries;  // the node inputs that read the copy
    bool graph_input;  // the original is also a graph input (IR < 4 models list initializers there)
  };
  std::vector<Plan> plans;
  {
    // find-params over the model as it is, wired here rather than by a PipelineRun: the model is not
    // this function's to own, and the index and table must be gone before the graph changes.
    GraphIndex index(model->mutable_graph());
    ParamTable table;
    PassContext ctx;
    ctx.model = model;
    ctx.index = &index;
    ctx.table = &table;
    REINIT_RETURN_IF_ERROR(RunPass("find-params", ctx));
    std::set<std::string> names;
    for (const auto& init : index.initializers()) names.insert(init.tensor->name());
    // Every use of each tensor (a tensor cut into pieces has several rows).
    std::map<std::string, std::pair<onnx::TensorProto*, std::vector<const LayerUse*>>> tensors;
    std::vector<std::string> order;
    for (const auto& row : table) {
      if (row.tensor == nullptr || row.uses.empty()) continue;
      auto& entry = tensors[row.name];
      if (entry.second.empty()) order.push_back(row.name);
      entry.first = row.tensor;
      for (const auto& use : row.uses) entry.second.push_back(&use);
    }
    for (const std::string& name : order) {
      const auto& [tensor, uses] = tensors.at(name);
      // Groups of node inputs that read the tensor, one per layer input it reaches, in order of the
      // uses; uses that share a node input (W -> Transpose -> two MatMuls, or one Split feeding the
      // pieces) cannot be separated and form one group.
      std::vector<std::vector<std::pair<const onnx::NodeProto*, int>>> groups;
      for (const LayerUse* use : uses) {
        std::vector<std::pair<const onnx::NodeProto*, int>> mine = use->entries;
        for (auto g = groups.begin(); g != groups.end();) {
          const bool shared = std::any_of(g->begin(), g->end(), [&](const auto& e) {
            return std::find(mine.begin(), mine.end(), e) != mine.end();
          });
          if (!shared) {
            ++g;
            continue;
          }
          for (const auto& e : *g) {
            if (std::find(mine.begin(), mine.end(), e) == mine.end()) mine.push_back(e);
          }
          g = groups.erase(g);
        }
        groups.push_back(std::move(mine));
      }
      if (groups.size() < 2) continue;
      // The copy lives in the graph of the original: visible to every node that could read it.
      onnx::GraphProto* home = index.mutable_graph();
      for (const auto& init : index.initializers()) {
        if (init.tensor == tensor) home = init.graph->graph;
      }
      for (const auto& c : index.constants()) {
        if (c.tensor == tensor) home = c.graph->graph;
      }
      bool is_input = false;
      for (const auto& in : home->input()) is_input = is_input || in.name() == name;
      for (size_t k = 1; k < groups.size(); ++k) {
        std::string copy = name + ".untied." + std::to_string(k);
        while (names.count(copy)) copy += "_";
        names.insert(copy);
        Plan plan{home, *tensor, {}, is_input && model->ir_version() < 4};
        plan.tensor.set_name(copy);
        for (const auto& [node, input] : groups[k]) plan.entries.emplace_back(const_cast<onnx::NodeProto*>(node), input);
        plans.push_back(std::move(plan));
        copies->emplace_back(name, copy);
      }
    }
  }
  // Index and table are gone: now the graph may change.
  for (auto& plan : plans) {
    const auto& [first, slot] = plan.entries[0];
    if (plan.graph_input) {
      for (const auto& in : plan.graph->input()) {
        if (in.name() == first->input(slot)) {
          auto* copy = plan.graph->add_input();
          *copy = in;
          copy->set_name(plan.tensor.name());
          break;
        }
      }
    }
    for (const auto& [node, input] : plan.entries) node->set_input(input, plan.tensor.name());
    *plan.graph->add_initializer() = std::move(plan.tensor);
  }
  return Status::Ok();
}

namespace {

// As a pass: the copies' bytes are where their originals' are (the tensor store), and find-copies is
// told which tensors are copies made on purpose, so that it does not tie them back.
class UntieSharedPass : public Pass {
 public:
  Status Run(PassContext& ctx, Counters& counters) override {
    std::vector<std::pair<std::string, std::string>> copies;
    REINIT_RETURN_IF_ERROR(UntieShared(ctx.model, &copies));
    std::map<std::string, const onnx::TensorProto*> by_name;
    ForEachTensor(ctx.model, [&](onnx::TensorProto& t, const std::string& key) { by_name[key] = &t; });
    for (const auto& [original, copy] : copies) {
      ctx.untied.insert(copy);
      if (ctx.store != nullptr) ctx.store->AddCopy(by_name.at(original), by_name.at(copy));
    }
    counters["copies"] = static_cast<int64_t>(copies.size());
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeUntieSharedPass() { return std::make_unique<UntieSharedPass>(); }

}  // namespace reinit
