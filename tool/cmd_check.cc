// check: reads an already-initialized model and compares each parameter with what the policy would
// generate: the measured standard deviation of every randomly initialized tensor against the target
// std, and for orthogonal recurrent weights the orthogonality of each gate block. Prints the layers
// and exits 6 (kCheckFailed) when any is off; 0 when all are within tolerance. Writes nothing.
//
// A tensor is off when |measured / target - 1| > tolerance + 3 / sqrt(2 n): the second term is three
// standard errors of a sample std over n values, so small tensors are not flagged for noise.
// Constant-initialized tensors (biases, norms) are not checked: trained or framework-default values
// of those are legitimate.
#include <Eigen/Dense>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "passes/fill.h"
#include "passes/model_io.h"
#include "passes/report.h"
#include "passes/tensor_data.h"
#include "passes/version.h"
#include "tool/session.h"

namespace reinit {

namespace {

struct Verdict {
  const ParamRow* row;
  double measured = 0, ratio = 0, allowed = 0;
  std::optional<double> orthogonality_error;
  bool off = false;
};

// Largest |Q^T Q - I| over the orthogonal blocks of a recurrent R (entries scaled by 1/gain).
double OrthogonalityError(const ParamRow& row, const std::vector<double>& v) {
  const int64_t per_dir = row.whole_kernel ? 1 : row.gate_blocks;
  const int64_t blocks = row.shape[0] * per_dir, rows = row.shape[1] / per_dir, cols = row.shape[2];
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  double worst = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    Eigen::Map<const RowMatrix> m(v.data() + b * rows * cols, rows, cols);
    const Eigen::MatrixXd g = rows >= cols ? Eigen::MatrixXd(m.transpose() * m) : Eigen::MatrixXd(m * m.transpose());
    worst = std::max(worst, (g / (row.gain * row.gain) - Eigen::MatrixXd::Identity(g.rows(), g.cols())).cwiseAbs().maxCoeff());
  }
  return worst;
}

std::string Fixed(double v) {
  std::ostringstream s;
  s << std::setprecision(4) << v;
  return s.str();
}

}  // namespace

int RunCheck(const Options& options, std::ostream& out, std::ostream& err) {
  Session s;
  Status status = RunSession(options, PlanPipeline(), /*whole_pipeline=*/true, &s, err);
  if (!status.ok()) return Fail(status, err);
  std::vector<Verdict> verdicts;
  for (const ParamRow& row : s.table) {
    if (row.action != Action::kReinitialize || row.scheme == Scheme::kConstant || row.std <= 0) continue;
    std::vector<double> v;
    status = ReadValues(*row.tensor, &v);
    if (!status.ok()) return Fail(status, err);
    Verdict verdict;
    verdict.row = &row;
    verdict.measured = Measure(v).std;
    verdict.ratio = verdict.measured / row.std;
    verdict.allowed = options.tolerance + 3.0 / std::sqrt(2.0 * v.size());
    verdict.off = std::fabs(verdict.ratio - 1) > verdict.allowed;
    if (row.scheme == Scheme::kOrthogonal && row.shape.size() == 3) {
      verdict.orthogonality_error = OrthogonalityError(row, v);
      verdict.off = verdict.off || *verdict.orthogonality_error > options.tolerance;
    }
    verdicts.push_back(verdict);
  }
  int off = 0;
  for (const auto& v : verdicts) off += v.off;

  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const auto& v : verdicts) {
    layers.push_back({{"name", v.row->name},
                      {"scheme", SchemeName(v.row->scheme)},
                      {"activation", v.row->activation.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v.row->activation)},
                      {"target_std", v.row->std},
                      {"measured_std", v.measured},
                      {"ratio", v.ratio},
                      {"allowed_deviation", v.allowed},
                      {"orthogonality_error", v.orthogonality_error ? nlohmann::ordered_json(*v.orthogonality_error) : nlohmann::ordered_json(nullptr)},
                      {"verdict", v.off ? "off" : "ok"}});
  }
  if (options.format == OutputFormat::kJson) {
    nlohmann::ordered_json j = {{"schema_version", 1},     {"command", "check"},       {"input", options.input},
                                {"tolerance", options.tolerance}, {"policy", s.ctx.policy.ToJson()},
                                {"checked", verdicts.size()}, {"off", off},           {"layers", layers}};
    out << j.dump(2) << "\n";
  } else {
    const bool md = options.format == OutputFormat::kMarkdown;
    std::vector<std::vector<std::string>> rows = {{"tensor", "scheme", "target_std", "measured_std", "ratio", "verdict"}};
    for (const auto& v : verdicts) {
      if (options.verbosity == 0 && !v.off) continue;  // -q: only the layers that are off
      std::string verdict = v.off ? "OFF" : "ok";
      if (v.off) verdict += " (|ratio - 1| > " + Fixed(v.allowed) + (v.orthogonality_error && *v.orthogonality_error > options.tolerance
                                                                    ? ", not orthogonal: " + Fixed(*v.orthogonality_error) : "") + ")";
      rows.push_back({v.row->name, SchemeName(v.row->scheme), Fixed(v.row->std), Fixed(v.measured), Fixed(v.ratio), verdict});
    }
    out << (md ? FormatMarkdownRows(rows, /*code_first_column=*/false) : FormatColumns(rows));
    out << (md ? "\n" : "") << verdicts.size() - off << " ok, " << off << " off (tolerance " << options.tolerance
        << ", preset " << s.ctx.policy.preset << ")\n";
  }
  return off > 0 ? static_cast<int>(ExitCode::kCheckFailed) : 0;
}

}  // namespace reinit
