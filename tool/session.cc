#include "tool/session.h"

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>

#include "onnx/defs/schema.h"
#include "passes/io/model_io.h"
#include "passes/io/paths.h"
#include "passes/graph/tensor_values.h"
#include "passes/report/audit_report.h"
#include "passes/report/report.h"
#include "passes/policy/settings.h"
#include "passes/passes.h"
#include "passes/report/version.h"
#include "tool/listings.h"

namespace reinit {

Status BuildPolicy(const Options& o, Policy* policy) {
  if (!o.config.empty()) REINIT_RETURN_IF_ERROR(LoadRulesFile(o.config, policy));
  // Settings given on the command line override the file's; a list given here replaces the file's.
  std::set<std::string> cleared;
  for (const auto& [key, text] : o.settings) {
    const Setting* setting = FindSetting(key);
    if (setting == nullptr) return {ExitCode::kUsage, "unknown setting '" + key + "'"};
    if (setting->list && cleared.insert(key).second) setting->clear(*policy);
    const std::string error = setting->set(text, *policy);
    if (!error.empty()) return {ExitCode::kUsage, std::string(setting->flag) + " " + error};
  }
  return Status::Ok();
}

namespace {

// The passes to run: --passes (a prefix of `full`) or all of `full`, after untie-shared when asked for.
Status ChoosePasses(const Options& options, const std::vector<std::string>& full, bool whole_pipeline,
                    std::vector<std::string>* passes) {
  *passes = full;
  if (!options.passes.empty()) REINIT_RETURN_IF_ERROR(ParsePipeline(options.passes, full, passes));
  if (whole_pipeline && passes->size() != full.size()) {
    return {ExitCode::kUsage, options.command + " needs the whole pipeline, up to " + full.back() +
                                  "; use plan to run a prefix"};
  }
  if (options.untie_shared) passes->insert(passes->begin(), kUntieShared);
  if (!options.dump_after.empty()) {
    bool runs = false;
    for (const auto& p : *passes) runs = runs || p == options.dump_after;
    if (!runs) return {ExitCode::kUsage, "--dump-after " + options.dump_after + ": that pass is not in the pipeline"};
  }
  return Status::Ok();
}

// The files named on the command line; the input's data files are added once they are known.
Status RegisterFiles(const Options& options, FileGuard* files) {
  REINIT_RETURN_IF_ERROR(files->Read(options.input, "the input model"));
  if (!options.config.empty()) REINIT_RETURN_IF_ERROR(files->Read(options.config, "the rules file"));
  if (!options.report.empty()) REINIT_RETURN_IF_ERROR(files->Write(options.report, "the report"));
  if (!options.plot.empty()) REINIT_RETURN_IF_ERROR(files->Write(options.plot, "the plot"));
  if (!options.export_weights.empty()) REINIT_RETURN_IF_ERROR(files->Write(options.export_weights, "the weights file"));
  if (!options.name_map.empty()) REINIT_RETURN_IF_ERROR(files->Read(options.name_map, "the name map"));
  return Status::Ok();
}

// Reads the input into the run's model. Tensors whose bytes stay on disk (external data, and large
// inline tensors left in the file) are entered in the tensor store, which reads them when needed.
Status LoadInput(const Options& options, Session* s) {
  onnx::ModelProto& model = s->run.model();
  // Large inline tensors left on disk (passes/io/inline_split.h): not for check (which reads them all)
  // or where tensors are copied (--untie-shared).
  const bool stream = options.command != "check" && options.stream_threshold > 0 && !options.untie_shared;
  LoadOptions load;
  load.hash = ReportNeeded(options);
  load.split_threshold = stream ? options.stream_threshold : 0;
  Loaded loaded;
  REINIT_RETURN_IF_ERROR(LoadModel(options.input, &model, load, &loaded));
  s->input_hasher = std::move(loaded.hasher);
  // External bytes stay on disk until a pass or the writer needs them; the tensor store knows where.
  ExternalTensors external;
  REINIT_RETURN_IF_ERROR(LoadExternalData(options.input, &model, &external, /*lazy=*/true));
  for (const std::string& file : external.files) {
    REINIT_RETURN_IF_ERROR(s->files.Read(file, "the input's external data"));
  }
  ForEachTensor(&model, [&](onnx::TensorProto& t, const std::string& key) {
    if (auto it = external.sources.find(key); it != external.sources.end()) s->store.AddExternal(&t, it->second);
  });
  if (!loaded.split.empty()) {
    const std::string real = CanonicalPath(options.input);
    const std::string canonical = real.empty() ? options.input : real;
    for (const SplitTensor& t : loaded.split) {
      onnx::TensorProto* tensor = FindTensor(&model, t.path);
      PointAt(*tensor, BaseName(options.input), static_cast<uint64_t>(t.offset), static_cast<uint64_t>(t.length));
      auto* marker = tensor->add_external_data();
      marker->set_key(kInlineMarker);
      marker->set_value("1");
      s->store.AddStreamed(tensor, t.path, ExternalSource{canonical, t.offset, t.length});
    }
  }
  return Status::Ok();
}

// A model newer than the ONNX library knows: the tool only reads layouts it knows, so it goes on, but
// says so.
void WarnIfNewer(const std::string& input, const onnx::ModelProto& model, std::vector<std::string>* warnings) {
  if (model.ir_version() > onnx::Version::IR_VERSION) {
    warnings->push_back(input + ": IR version " + std::to_string(model.ir_version()) +
                        " is newer than this build knows (" + std::to_string(onnx::Version::IR_VERSION) + ")");
  }
  const auto& known = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& opset : model.opset_import()) {
    const std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
    auto it = known.find(domain);
    if (it != known.end() && opset.version() > it->second.second) {
      warnings->push_back(input + ": opset " + std::to_string(opset.version()) + " of domain '" + domain +
                          "' is newer than this build knows (" + std::to_string(it->second.second) + ")");
    }
  }
}

// Progress lines on stderr for a pass that takes a while (tool/progress.h).
void ShowPassProgress(const Options& options, Session* s, std::ostream& err) {
  s->progress = std::make_unique<Progress>(err, options.verbosity > 0, options.progress_seconds);
  s->run.ctx().progress = [p = s->progress.get()](const std::string& pass, size_t done, size_t total) {
    p->Update(pass, done, total, "tensors");
    if (done == total) p->Finish(pass);
  };
}

// Runs the passes, with --dump-after; then the warnings, and the counters with --stats or -v.
Status RunPasses(const Options& options, Session* s, std::ostream& err) {
  Status status = s->run.Run(s->passes, [&](const std::string& pass, const ParamTable& table) {
    if (pass == options.dump_after) err << "// parameter table after " << pass << "\n" << FormatTableRows(table);
  });
  const PassContext& ctx = s->run.ctx();
  if (options.verbosity > 0) {
    for (const auto& w : ctx.warnings) err << kToolName << ": warning: " << w << "\n";
  }
  if (status.ok() && (options.stats || options.verbosity > 1)) err << FormatCounters(ctx.counters, s->passes);
  return status;
}

}  // namespace

Status RunSession(const Options& options, const std::vector<std::string>& full, bool whole_pipeline, Session* s,
                  std::ostream& err) {
  REINIT_RETURN_IF_ERROR(ChoosePasses(options, full, whole_pipeline, &s->passes));
  REINIT_RETURN_IF_ERROR(RegisterFiles(options, &s->files));
  PassContext& ctx = s->run.ctx();
  REINIT_RETURN_IF_ERROR(BuildPolicy(options, &ctx.policy));
  REINIT_RETURN_IF_ERROR(LoadInput(options, s));
  WarnIfNewer(options.input, s->run.model(), &ctx.warnings);
  ctx.threads = options.threads;
  ctx.store = &s->store;
  ctx.signal.requested = options.command == "audit" || options.audit;
  ctx.signal.measured = options.command == "audit" && !options.planned;
  ctx.signal.options.input_std = options.input_std;
  ctx.signal.options.bn_inference = options.bn_inference;
  ShowPassProgress(options, s, err);
  return RunPasses(options, s, err);
}

void PrintResults(const Options& options, const ParamTable& table, const nlohmann::ordered_json& report,
                  std::ostream& out, const SignalAudit* audit) {
  if (options.verbosity == 0) return;
  switch (options.format) {
    case OutputFormat::kJunit:
    case OutputFormat::kGithub:  // check's formats: the command line refuses them for plan and rewrite
    case OutputFormat::kText: out << FormatTable(table, options.all); break;
    case OutputFormat::kJson: out << report.dump(2) << "\n"; break;
    case OutputFormat::kMarkdown: out << FormatMarkdown(table, options.all); break;
  }
  if (audit != nullptr && options.format != OutputFormat::kJson) {
    out << "\n" << FormatAuditTable(*audit, options.format == OutputFormat::kMarkdown);
  }
}

void PrintNotes(const Options& options, const ParamTable& table, std::ostream& err) {
  if (options.verbosity == 0) return;
  for (const std::string& note : Notes(table)) err << kToolName << ": note: " << note << "\n";
}

std::ostream& Results(const Options& options, std::ostream& out, std::ostream& err) {
  return options.command == "rewrite" && IsStandardOutput(options.output) ? err : out;
}

Status WriteReport(const Options& options, const nlohmann::ordered_json& report, ModelWriter* writer) {
  if (options.report.empty()) return Status::Ok();
  AtomicFile file(options.report, false);
  REINIT_RETURN_IF_ERROR(file.Open());
  const bool existed = ::access(file.target().c_str(), F_OK) == 0;
  const std::string text = report.dump(2) + "\n";
  REINIT_RETURN_IF_ERROR(file.Write(text.data(), text.size()));
  REINIT_RETURN_IF_ERROR(file.Commit());
  if (writer != nullptr && !file.streamed()) writer->Committed(file.target(), existed);
  return Status::Ok();
}

Status InputSha256(Session& s, std::string* sha256) {
  sha256->clear();
  if (!s.input_hasher) return Status::Ok();
  *sha256 = s.input_hasher->Finish();
  if (sha256->empty()) return {ExitCode::kBadModel, "the input could not be read again to hash it"};
  return Status::Ok();
}

bool ReportNeeded(const Options& options) {
  return !options.report.empty() || (options.format == OutputFormat::kJson && options.verbosity > 0) ||
         options.format == OutputFormat::kJunit;  // its properties name the model's SHA-256
}

int Fail(const Status& status, std::ostream& err) {
  err << kToolName << ": error: " << status.message() << "\n";
  return static_cast<int>(status.code());
}

int RunCommand(const Options& options, std::ostream& out, std::ostream& err) {
  try {
    if (options.command == "list-passes") {
      size_t width = 0;  // the summaries line up two spaces after the longest name
      for (const PassInfo& p : kPasses) width = std::max(width, std::strlen(p.name));
      for (const PassInfo& p : kPasses) out << p.name << std::string(width + 2 - std::strlen(p.name), ' ') << p.summary << "\n";
      return 0;
    }
    if (options.command == "list") return RunList(options.list, out);
    if (options.command == "plan") return RunPlan(options, out, err);
    if (options.command == "rewrite") return RunRewrite(options, out, err);
    if (options.command == "check") return RunCheck(options, out, err);
    if (options.command == "audit") return RunAudit(options, out, err);
    if (options.command == "export-weights") return RunExportWeights(options, out, err);
    return Fail({ExitCode::kUsage, "unknown command '" + options.command + "'"}, err);
  } catch (const std::exception& e) {
    // Exceptions from protobuf or the ONNX library end here, as one line.
    return Fail({ExitCode::kInternal, std::string("unexpected failure: ") + e.what()}, err);
  }
}

}  // namespace reinit
