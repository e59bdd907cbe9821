#include "passes/untie_shared.h"

#include <map>

#include "passes/find_params.h"
#include "passes/graph_index.h"
#include "passes/pipeline.h"

namespace reinit {

Status UntieShared(onnx::ModelProto* model, std::vector<std::pair<std::string, std::string>>* copies) {
  struct Plan {
    onnx::GraphProto* graph;
    onnx::TensorProto tensor;  // the copy, already renamed
    onnx::NodeProto* entry;
    int input;
    bool graph_input;  // the original is also a graph input (IR < 4 models list initializers there)
  };
  std::vector<Plan> plans;
  {
    GraphIndex index(model->mutable_graph());
    ParamTable table;
    PassContext ctx;
    ctx.model = model;
    ctx.index = &index;
    ctx.table = &table;
    REINIT_RETURN_IF_ERROR(FindParamsPass().Run(ctx));
    std::set<std::string> names;
    for (const auto& init : index.initializers()) names.insert(init.tensor->name());
    for (const auto& row : table) {
      // Distinct node inputs that read the tensor and lead to a layer, in order of the uses.
      std::vector<std::pair<const onnx::NodeProto*, int>> entries;
      for (const auto& use : row.uses) {
        std::pair<const onnx::NodeProto*, int> e{use.entry, use.entry_input};
        if (std::find(entries.begin(), entries.end(), e) == entries.end()) entries.push_back(e);
      }
      if (entries.size() < 2 || row.tensor == nullptr) continue;
      // The copy lives in the graph of the original: visible to every node that could read it.
      onnx::GraphProto* home = index.mutable_graph();
      for (const auto& init : index.initializers()) {
        if (init.tensor == row.tensor) home = init.graph->graph;
      }
      for (const auto& c : index.constants()) {
        if (c.tensor == row.tensor) home = c.graph->graph;
      }
      bool is_input = false;
      for (const auto& in : home->input()) is_input = is_input || in.name() == row.name;
      for (size_t k = 1; k < entries.size(); ++k) {
        std::string name = row.name + ".untied." + std::to_string(k);
        while (names.count(name)) name += "_";
        names.insert(name);
        Plan plan{home, *row.tensor, const_cast<onnx::NodeProto*>(entries[k].first), entries[k].second,
                  is_input && model->ir_version() < 4};
        plan.tensor.set_name(name);
        plans.push_back(std::move(plan));
        copies->emplace_back(row.name, name);
      }
    }
  }
  // Index and table are gone: now the graph may change.
  for (auto& plan : plans) {
    if (plan.graph_input) {
      for (const auto& in : plan.graph->input()) {
        if (in.name() == plan.entry->input(plan.input)) {
          auto* copy = plan.graph->add_input();
          *copy = in;
          copy->set_name(plan.tensor.name());
          break;
        }
      }
    }
    plan.entry->set_input(plan.input, plan.tensor.name());
    *plan.graph->add_initializer() = std::move(plan.tensor);
  }
  return Status::Ok();
}

}  // namespace reinit
