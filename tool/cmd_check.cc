// check: reads an already-initialized model and compares each parameter with what the policy would
// generate: the measured standard deviation of every randomly initialized tensor against the target
// std, and for orthogonal recurrent weights the orthogonality of each gate block. Prints the layers
// and exits 6 (kCheckFailed) when any is off; 0 when all are within tolerance. Writes nothing but the
// --report file. --format junit and github turn the report into what CI systems show
// (tool/check_formats.h).
//
// A tensor is off when |measured / target - 1| > tolerance + 3 / sqrt(2 n): the second term is three
// standard errors of a sample std over n values, so small tensors are not flagged for noise. A target
// or a measurement that is not finite is off. Constant-initialized tensors (biases, norms) are not
// checked: trained or framework-default values of those are legitimate. A check that measures nothing
// is not a pass: exit 2, unless --allow-empty.
//
// Preset proxy is refused (exit 2) before the model is read: a proxy's target for each tensor is that
// tensor's own statistics, so every tensor would pass whatever it holds.
#include <Eigen/Dense>
#include <cmath>

#include "passes/gen/fill.h"
#include "passes/graph/gate_blocks.h"
#include "passes/io/model_io.h"
#include "passes/report/report.h"
#include "passes/graph/tensor_values.h"
#include "passes/report/version.h"
#include "tool/check_formats.h"
#include "tool/session.h"

namespace reinit {

namespace {

using json = nlohmann::ordered_json;

struct Verdict {
  const ParamRow* row;
  double measured = 0, ratio = 0, allowed = 0;
  std::optional<double> orthogonality_error;
  bool off = false;
};

// Largest |Q^T Q - I| over the orthogonal blocks of a recurrent weight (entries scaled by 1/gain), where
// its gate blocks are in the stored tensor (passes/graph/gate_blocks.h).
double OrthogonalityError(const ParamRow& row, const std::vector<double>& v) {
  const std::vector<int64_t> offsets = row.init.whole_kernel ? DirectionBlockOffsets(row) : row.gates.block_offsets;
  const int64_t rows = row.fans->out * (row.init.whole_kernel ? row.gates.blocks : 1), cols = row.fans->in;
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  double worst = 0;
  for (int64_t offset : offsets) {
    Eigen::Map<const RowMatrix> m(v.data() + offset, rows, cols);
    const Eigen::MatrixXd g = rows >= cols ? Eigen::MatrixXd(m.transpose() * m) : Eigen::MatrixXd(m * m.transpose());
    worst = std::max(worst, (g / (row.init.gain * row.init.gain) - Eigen::MatrixXd::Identity(g.rows(), g.cols())).cwiseAbs().maxCoeff());
  }
  return worst;
}

Status MeasureRow(const ParamRow& row, const TensorStore& store, double tolerance, Verdict* verdict) {
  std::vector<double> v;
  REINIT_RETURN_IF_ERROR(store.ReadValues(*row.tensor, &v));  // wherever its bytes are
  verdict->row = &row;
  verdict->measured = Measure(v).std;
  verdict->ratio = verdict->measured / row.init.std;
  verdict->allowed = tolerance + 3.0 / std::sqrt(2.0 * v.size());
  // Written so that a NaN anywhere (a non-finite value in the tensor, a non-finite target) is off.
  verdict->off = !(std::fabs(verdict->ratio - 1) <= verdict->allowed) || !std::isfinite(row.init.std);
  const bool recurrent = IsRecurrentWeight(row.role);
  if (row.init.scheme == Scheme::kOrthogonal && recurrent) {
    verdict->orthogonality_error = OrthogonalityError(row, v);
    verdict->off = verdict->off || !(*verdict->orthogonality_error <= tolerance);
  }
  return Status::Ok();
}

json VerdictJson(const Verdict& v) {
  auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  return {{"name", v.row->name},
          {"scheme", NameOf(v.row->init.scheme)},
          {"activation", v.row->act.name.empty() ? json(nullptr) : json(v.row->act.name)},
          {"target_std", number(v.row->init.std)},
          {"measured_std", number(v.measured)},
          {"ratio", number(v.ratio)},
          {"allowed_deviation", v.allowed},
          {"orthogonality_error", v.orthogonality_error ? number(*v.orthogonality_error) : json(nullptr)},
          {"verdict", v.off ? "off" : "ok"}};
}

// The report: the envelope of plan's and rewrite's (tool, input with its SHA-256, policy), then the
// verdicts.
json CheckReport(const Options& options, const std::string& sha256, const Policy& policy,
                 const std::vector<Verdict>& verdicts, int off) {
  json layers = json::array();
  for (const auto& v : verdicts) layers.push_back(VerdictJson(v));
  return {{"schema_version", kReportSchemaVersion},
          {"tool", {{"name", kToolName}, {"version", kToolVersion}}},
          {"command", "check"},
          {"input", {{"path", options.input}, {"sha256", sha256}}},
          {"tolerance", options.tolerance},
          {"policy", policy.ToJson()},
          {"summary", {{"checked", verdicts.size()}, {"ok", static_cast<int>(verdicts.size()) - off}, {"off", off}}},
          {"layers", layers}};
}

// The table, in plan's formats: aligned columns or Markdown with names in code spans, numbers with four
// significant digits. With -q only the layers that are off (and nothing when all are ok).
void PrintTable(const Options& options, const Policy& policy, const std::vector<Verdict>& verdicts, int off,
                std::ostream& out) {
  if (options.verbosity == 0 && off == 0) return;
  std::vector<std::vector<std::string>> rows = {{"tensor", "scheme", "target_std", "measured_std", "ratio", "verdict"}};
  for (const auto& v : verdicts) {
    if (options.verbosity == 0 && !v.off) continue;
    std::string verdict = v.off ? "OFF" : "ok";
    if (v.off) {
      verdict += " (|ratio - 1| > " + Short(v.allowed);
      if (v.orthogonality_error && !(*v.orthogonality_error <= options.tolerance)) {
        verdict += ", not orthogonal: " + Short(*v.orthogonality_error);
      }
      verdict += ")";
    }
    rows.push_back({v.row->name, NameOf(v.row->init.scheme), Short(v.row->init.std), Short(v.measured), Short(v.ratio), verdict});
  }
  const bool md = options.format == OutputFormat::kMarkdown;
  out << (md ? FormatMarkdownRows(rows, /*code_first_column=*/true) : FormatColumns(rows));
  out << (md ? "\n" : "") << verdicts.size() - off << " ok, " << off << " off (tolerance " << options.tolerance
      << ", preset " << policy.preset << ")\n";
}

}  // namespace

int RunCheck(const Options& options, std::ostream& out, std::ostream& err) {
  Policy policy;
  Status status = BuildPolicy(options, &policy);
  if (!status.ok()) return Fail(status, err);
  if (policy.preset_rules().proxy) {
    return Fail({ExitCode::kUsage, options.input + ": check --preset proxy: a proxy's target is each tensor's own statistics, so every "
                                   "tensor would pass; compare a rewritten proxy with its source model instead"},
                err);
  }
  Session s;
  status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);
  std::vector<Verdict> verdicts;
  for (const ParamRow& row : s.run.table()) {
    if (row.init.action != Action::kReinitialize || row.init.scheme == Scheme::kConstant || row.init.std <= 0) continue;
    Verdict verdict;
    status = MeasureRow(row, s.store, options.tolerance, &verdict);
    if (!status.ok()) return Fail(status, err);
    verdicts.push_back(verdict);
  }
  if (verdicts.empty() && !s.run.ctx().policy.selection.allow_empty) {
    return Fail({ExitCode::kUsage, options.input + ": nothing to check: no tensor is initialized at random under the "
                                                   "policy (use --allow-empty to accept that)"},
                err);
  }
  int off = 0;
  for (const auto& v : verdicts) off += v.off;
  std::string sha256;
  status = InputSha256(s, &sha256);
  if (!status.ok()) return Fail(status, err);
  const json report = CheckReport(options, sha256, s.run.ctx().policy, verdicts, off);
  status = WriteReport(options, report);
  if (!status.ok()) return Fail(status, err);
  switch (options.format) {
    case OutputFormat::kJson:
      if (options.verbosity > 0) out << report.dump(2) << "\n";
      break;
    // A CI system reads the JUnit file whole, so -q does not thin it out.
    case OutputFormat::kJunit: out << FormatJunit(report); break;
    case OutputFormat::kGithub: out << FormatGithub(report, options.verbosity == 0); break;
    case OutputFormat::kText:
    case OutputFormat::kMarkdown: PrintTable(options, s.run.ctx().policy, verdicts, off, out); break;
  }
  PrintNotes(options, s.run.table(), err);
  return off > 0 ? static_cast<int>(ExitCode::kCheckFailed) : 0;
}

}  // namespace reinit
