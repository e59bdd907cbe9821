// export-weights, and rewrite --export-weights: the new weights as a safetensors file keyed by the
// framework's names and in its layouts (passes/graph/framework_names.h), so a training script loads them
// with load_state_dict. Tensors no rule can name are listed (the report's "export.unnamed", a warning)
// and left out, never guessed.
//
// rewrite exports from the model it has just written (the temporary file, before it is put in place), so
// the file holds exactly the bytes of the model; the weights file is committed before the model and
// removed again if the model cannot be put in place.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <unistd.h>

#include "passes/graph/framework_names.h"
#include "passes/graph/tensor_values.h"
#include "passes/io/safetensors.h"
#include "passes/report/report.h"
#include "passes/report/version.h"
#include "tool/session.h"

namespace reinit {

namespace {

using json = nlohmann::ordered_json;

// --name-map: a JSON or YAML mapping of ONNX tensor names to framework names.
Status LoadNameMap(const std::string& path, const ParamTable& table, std::map<std::string, std::string>* map) {
  if (path.empty()) return Status::Ok();
  try {
    const YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) return {ExitCode::kUsage, path + ": a name map must map ONNX tensor names to framework names"};
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (!entry.second.IsScalar() || entry.second.Scalar().empty()) {
        return {ExitCode::kUsage, path + ":" + std::to_string(entry.second.Mark().line + 1) + ": the name for '" + key +
                                      "' must be a non-empty string"};
      }
      const bool known = std::any_of(table.begin(), table.end(), [&](const ParamRow& r) { return r.name == key; });
      if (!known) {
        return {ExitCode::kUsage, path + ":" + std::to_string(entry.first.Mark().line + 1) + ": the model has no tensor '" +
                                      key + "'"};
      }
      (*map)[key] = entry.second.Scalar();
    }
  } catch (const YAML::BadFile&) {
    return {ExitCode::kUsage, path + ": cannot read the name map"};
  } catch (const YAML::Exception& e) {
    return {ExitCode::kUsage, path + ": " + e.what()};
  }
  return Status::Ok();
}

SafetensorsEntry Entry(const FrameworkTensor& f, const TensorStore& store) {
  SafetensorsEntry e;
  e.name = f.key;
  e.onnx_dtype = f.row->dtype;
  e.shape = f.shape;
  e.bytes = [f, &store](const ByteSink& sink) -> Status {
    // Wherever the tensor's bytes are (passes/io/tensor_store.h): a run of `count` elements from `start`.
    const uint64_t width = FloatByteWidth(f.row->dtype);
    auto read = [&](int64_t start, int64_t count, std::string* bytes) {
      return store.ReadBytes(*f.row->tensor, start * width, 0, 1, count * width, bytes);
    };
    constexpr int64_t kPiece = int64_t{16} << 20;  // bytes per read of an untransposed run
    if (!f.transpose) {
      const int64_t step = std::max<int64_t>(1, kPiece / static_cast<int64_t>(width));
      for (const ElementRun& run : f.runs) {
        for (int64_t at = 0; at < run.count; at += step) {
          std::string bytes;
          REINIT_RETURN_IF_ERROR(read(run.start + at, std::min(step, run.count - at), &bytes));
          REINIT_RETURN_IF_ERROR(sink.write(bytes.data(), bytes.size()));
        }
      }
      return Status::Ok();
    }
    // Transposed: the stored [cols, rows] matrix read whole, written [rows, cols] a row at a time.
    std::string stored;
    REINIT_RETURN_IF_ERROR(read(f.runs[0].start, f.runs[0].count, &stored));
    const int64_t rows = f.shape[0], cols = f.shape[1];
    std::string line(static_cast<size_t>(cols) * width, '\0');
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) std::memcpy(&line[c * width], &stored[(c * rows + r) * width], width);
      REINIT_RETURN_IF_ERROR(sink.write(line.data(), line.size()));
    }
    return Status::Ok();
  };
  return e;
}

// The safetensors __metadata__: the run recorded in the model (seed and policy) and the tool. No path:
// the same weights give the same file wherever the model was written (the report names the files).
std::map<std::string, std::string> Metadata(const onnx::ModelProto& model) {
  std::map<std::string, std::string> m = {{"format", "pt"}, {"exported_by", std::string(kToolName) + " " + kToolVersion}};
  for (const auto& entry : model.metadata_props()) {
    if (entry.key() != kMetadataKey) continue;
    m[kMetadataKey] = entry.value();
    const json run = json::parse(entry.value(), nullptr, /*allow_exceptions=*/false);
    if (run.is_object() && run.contains("seed")) m["seed"] = run["seed"].dump();
  }
  return m;
}

// What is exported: the re-initialized tensors, or with --all / --export-all every parameter.
bool Selected(const Options& options, const ParamRow& row) {
  return options.export_all ? row.role != Role::kUnknown : row.init.action == Action::kReinitialize;
}

json ExportJson(const std::string& path, const std::vector<FrameworkTensor>& tensors,
                const std::vector<UnnamedTensor>& unnamed) {
  json list = json::array(), left_out = json::array();
  for (const auto& t : tensors) {
    list.push_back({{"name", t.key}, {"tensor", t.row->name}, {"shape", t.shape}, {"dtype", SafetensorsDtype(t.row->dtype)},
                    {"layout", t.layout}, {"named_by", t.named_by}});
  }
  for (const auto& u : unnamed) left_out.push_back({{"tensor", u.tensor}, {"reason", u.reason}});
  return {{"file", path}, {"tensors", list}, {"unnamed", left_out}};
}

}  // namespace

Status ExportWeights(const Options& options, Session& s, const std::function<bool(const ParamRow&)>& wanted,
                     json* result, ModelWriter* writer) {
  std::map<std::string, std::string> name_map;
  REINIT_RETURN_IF_ERROR(LoadNameMap(options.name_map, s.run.table(), &name_map));
  const GraphIndex index(s.run.model().mutable_graph());
  std::vector<UnnamedTensor> unnamed;
  const std::vector<FrameworkTensor> tensors = FrameworkNames(s.run.table(), index, wanted, name_map, &unnamed);
  if (tensors.empty()) {
    return {ExitCode::kUsage, options.export_weights + ": no tensor to export" +
                                  (unnamed.empty() ? std::string(" (nothing selected)")
                                                   : ": none of the " + std::to_string(unnamed.size()) +
                                                         " selected could be named (first: '" + unnamed[0].tensor +
                                                         "': " + unnamed[0].reason + ")")};
  }
  std::vector<SafetensorsEntry> entries;
  for (const auto& t : tensors) entries.push_back(Entry(t, s.store));
  AtomicFile file(options.export_weights, false);
  REINIT_RETURN_IF_ERROR(file.Open());
  const bool existed = ::access(file.target().c_str(), F_OK) == 0;
  REINIT_RETURN_IF_ERROR(WriteSafetensors(std::move(entries), Metadata(s.run.model()), &file));
  REINIT_RETURN_IF_ERROR(file.Commit());
  if (writer != nullptr && !file.streamed()) writer->Committed(file.target(), existed);
  *result = ExportJson(options.export_weights, tensors, unnamed);
  return Status::Ok();
}

Status ExportRewritten(const Options& options, const std::string& written, const ParamTable& rewritten,
                       json* result, ModelWriter* writer, std::ostream& err) {
  if (written.empty()) {
    return {ExitCode::kUsage, "--export-weights: the model went to a device or stream, so there is no file to export from"};
  }
  std::set<std::string> names;
  for (const ParamRow& row : rewritten) {
    if (Selected(options, row)) names.insert(row.name);
  }
  // The written model, read like any input: no report, no listing, no second untie.
  Options o = options;
  o.command = "plan";
  o.input = written;
  o.report.clear();
  o.plot.clear();
  o.export_weights.clear();
  o.format = OutputFormat::kText;
  o.verbosity = 0;
  o.untie_shared = o.audit = o.stats = false;
  o.dump_after.clear();
  o.passes.clear();
  Session s;
  REINIT_RETURN_IF_ERROR(RunSession(o, PlanPipeline(), /*whole_pipeline=*/true, &s, err));
  o.export_weights = options.export_weights;
  return ExportWeights(o, s, [&](const ParamRow& row) { return names.count(row.name) > 0; }, result, writer);
}

void WarnNotExported(const Options& options, const json& result, std::ostream& err) {
  if (options.verbosity == 0) return;
  for (const auto& u : result["unnamed"]) {
    err << kToolName << ": warning: not exported: '" << u["tensor"].get<std::string>() << "': "
        << u["reason"].get<std::string>() << "\n";
  }
}

namespace {

// The table of what went where, and a warning per tensor left out.
void PrintExport(const Options& options, const json& result, std::ostream& out, std::ostream& err) {
  if (options.verbosity == 0) return;
  std::vector<std::vector<std::string>> rows = {{"name", "tensor", "shape", "layout"}};
  for (const auto& t : result["tensors"]) {
    rows.push_back({t["name"].get<std::string>(), t["tensor"].get<std::string>(),
                    ShapeText(t["shape"].get<std::vector<int64_t>>()), t["layout"].get<std::string>()});
  }
  if (options.format == OutputFormat::kMarkdown) {
    out << FormatMarkdownRows(rows, /*code_first_column=*/true);
  } else if (options.format == OutputFormat::kText) {
    out << FormatColumns(rows);
  }
  WarnNotExported(options, result, err);
}

}  // namespace

int RunExportWeights(const Options& options, std::ostream& out, std::ostream& err) {
  Session s;
  Status status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);
  json result;
  status = ExportWeights(
      options, s,
      [&](const ParamRow& row) { return Selected(options, row); }, &result, nullptr);
  std::string sha256;
  if (status.ok()) status = InputSha256(s, &sha256);
  if (!status.ok()) return Fail(status, err);
  const json report = {{"schema_version", kReportSchemaVersion},
                       {"tool", {{"name", kToolName}, {"version", kToolVersion}}},
                       {"command", "export-weights"},
                       {"input", {{"path", options.input}, {"sha256", sha256}}},
                       {"policy", s.run.ctx().policy.ToJson()},
                       {"export", result}};
  status = WriteReport(options, report);
  if (!status.ok()) return Fail(status, err);
  if (options.format == OutputFormat::kJson) {
    if (options.verbosity > 0) out << report.dump(2) << "\n";
  }
  PrintExport(options, result, out, err);
  if (options.verbosity > 0) {
    err << kToolName << ": wrote " << options.export_weights << ": " << result["tensors"].size() << " tensors, "
        << result["unnamed"].size() << " not exported\n";
  }
  return 0;
}

}  // namespace reinit
