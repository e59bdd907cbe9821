#include "passes/policy.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>

namespace reinit {

using json = nlohmann::ordered_json;

namespace {
constexpr auto kInputDist = std::nullopt;
using D = Distribution;
constexpr D kTrunc = D::kTruncatedNormal;
}  // namespace

const std::vector<Preset>& Presets() {
  // clang-format off
  static const std::vector<Preset> kPresets = {
    {"note", "the weight-initialization note: He for the ReLU family, Xavier for sigmoid/tanh and linear, LeCun for SELU, gain 1",
     /*relu*/ {Scheme::kHe, 2, FanMode::kFanIn, kInputDist}, /*sigmoid_tanh*/ {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     /*selu*/ {Scheme::kLeCun, 1, FanMode::kFanIn, kInputDist}, /*linear*/ {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     /*torch_gain*/ false, /*slope_aware*/ true, D::kUniform, FanConvention::kLayout, RecurrentRule::kPerGate,
     /*recurrent W*/ {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist}, /*forget*/ 0.0,
     EmbeddingRule::kNormal, 1.0, /*prelu*/ 0.25},
    {"pytorch", "torch.nn.init: kaiming_/xavier_ with calculate_gain (tanh 5/3, selu 3/4), torch's fan convention, nn.LSTM's own reset",
     {Scheme::kHe, 1, FanMode::kFanIn, kInputDist}, {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     {Scheme::kLeCun, 1, FanMode::kFanIn, kInputDist}, {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     true, true, D::kUniform, FanConvention::kFramework, RecurrentRule::kTorchDefault,
     {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist}, 0.0,
     EmbeddingRule::kNormal, 1.0, 0.25},
    {"keras", "Keras VarianceScaling: glorot_uniform, he_normal/lecun_normal truncated, whole-kernel orthogonal recurrent, forget bias 1",
     {Scheme::kHe, 2, FanMode::kFanIn, kTrunc}, {Scheme::kXavier, 1, FanMode::kFanAvg, D::kUniform},
     {Scheme::kLeCun, 1, FanMode::kFanIn, kTrunc}, {Scheme::kXavier, 1, FanMode::kFanAvg, D::kUniform},
     false, false, D::kUniform, FanConvention::kFramework, RecurrentRule::kWholeKernel,
     {Scheme::kXavier, 1, FanMode::kFanAvg, D::kUniform}, 1.0,
     EmbeddingRule::kUniform, 0.05, 0.0},
    {"jax", "jax.nn.initializers / Flax: variance_scaling truncated normal, lecun_normal for linear layers, per-gate LSTM",
     {Scheme::kHe, 2, FanMode::kFanIn, kTrunc}, {Scheme::kXavier, 1, FanMode::kFanAvg, kTrunc},
     {Scheme::kLeCun, 1, FanMode::kFanIn, kTrunc}, {Scheme::kLeCun, 1, FanMode::kFanIn, kTrunc},
     false, false, kTrunc, FanConvention::kFramework, RecurrentRule::kPerGate,
     {Scheme::kLeCun, 1, FanMode::kFanIn, kTrunc}, 0.0,
     EmbeddingRule::kFanInNormal, 1.0, 0.01},
  };
  // clang-format on
  return kPresets;
}

const Preset* FindPreset(const std::string& name) {
  for (const auto& p : Presets()) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

const Preset& Policy::preset_rules() const {
  const Preset* p = FindPreset(preset);
  return p != nullptr ? *p : Presets()[0];
}

double TorchGain(const std::string& activation, ActivationFamily family, double slope) {
  // torch.nn.init.calculate_gain
  if (activation == "tanh") return 5.0 / 3.0;
  if (activation == "selu") return 0.75;
  if (activation == "leaky_relu" || activation == "prelu") return std::sqrt(2.0 / (1.0 + slope * slope));
  if (family == ActivationFamily::kRelu) return std::sqrt(2.0);
  return 1.0;  // linear, conv, sigmoid
}

const char* FanModeName(FanMode mode) {
  switch (mode) {
    case FanMode::kFanIn: return "fan_in";
    case FanMode::kFanOut: return "fan_out";
    case FanMode::kFanAvg: return "fan_avg";
  }
  return "?";
}

std::optional<FanMode> ParseFanMode(const std::string& text) {
  for (FanMode m : {FanMode::kFanIn, FanMode::kFanOut, FanMode::kFanAvg}) {
    if (text == FanModeName(m)) return m;
  }
  return std::nullopt;
}

json InitSpec::ToJson() const {
  json j = json::object();
  if (keep) j["keep"] = true;
  if (scheme) j["scheme"] = SchemeName(*scheme);
  if (distribution) j["distribution"] = DistributionName(*distribution);
  if (gain) j["gain"] = std::isnan(*gain) ? json("auto") : json(*gain);
  if (mode) j["mode"] = FanModeName(*mode);
  if (std) j["std"] = *std;
  if (bound) j["bound"] = *bound;
  if (value) j["value"] = *value;
  return j;
}

static const char* ResidualName(ResidualScaling r) {
  return r == ResidualScaling::kGpt2 ? "gpt2" : r == ResidualScaling::kZero ? "zero" : "none";
}

json Policy::ToJson() const {
  const Preset& p = preset_rules();
  auto texts = [](const std::vector<Match>& v) {
    json a = json::array();
    for (const auto& m : v) a.push_back(m.text);
    return a;
  };
  json rules_json = json::array();
  for (const auto& r : rules) rules_json.push_back({{"match", r.match.text}, {"init", r.init.ToJson()}, {"origin", r.origin}});
  return {
      {"name", preset},
      {"distribution", DistributionName(distribution.value_or(p.distribution))},
      {"gain", gain ? (std::isnan(*gain) ? json("auto") : json(*gain)) : json("preset")},
      {"mode", mode ? json(FanModeName(*mode)) : json("preset")},
      {"forget_bias", forget_bias.value_or(p.forget_bias)},
      {"embedding_std", embedding_std ? json(*embedding_std) : json("preset")},
      {"residual_scaling", ResidualName(residual)},
      {"rules", rules_json},
      {"selection",
       {{"only", texts(selection.only)},
        {"exclude", texts(selection.exclude)},
        {"keep", texts(selection.keep)},
        {"reinit_last", selection.reinit_last ? json(*selection.reinit_last) : json(nullptr)},
        {"reinit_blocks", selection.reinit_blocks ? json(*selection.reinit_blocks) : json(nullptr)},
        {"allow_empty", selection.allow_empty}}},
  };
}

// ---- rules files ----------------------------------------------------------------------------------

namespace {

struct FileError {
  std::string message;
};

class RulesReader {
 public:
  explicit RulesReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void Fail(const YAML::Node& node, const std::string& what) const {
    const int line = node.Mark().line;
    throw FileError{path_ + (line >= 0 ? ":" + std::to_string(line + 1) : "") + ": " + what};
  }

  std::string Where(const YAML::Node& node) const {
    return path_ + ":" + std::to_string(node.Mark().line + 1);
  }

  std::string Text(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) Fail(n, key + " must be a single value");
    return n.Scalar();
  }

  double Number(const YAML::Node& n, const std::string& key) const {
    const std::string t = Text(n, key);
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !std::isfinite(v)) Fail(n, key + " must be a number, not '" + t + "'");
    return v;
  }

  template <typename T>
  T Enum(const YAML::Node& n, const std::string& key, std::optional<T> (*parse)(const std::string&),
         const std::string& allowed) const {
    auto v = parse(Text(n, key));
    if (!v) Fail(n, key + " must be " + allowed + ", not '" + n.Scalar() + "'");
    return *v;
  }

  std::optional<double> Gain(const YAML::Node& n) const {
    if (n.IsScalar() && n.Scalar() == "auto") return std::numeric_limits<double>::quiet_NaN();
    const double g = Number(n, "gain");
    if (g <= 0) Fail(n, "gain must be positive");
    return g;
  }

  // Calls `fn(key, value)` for each entry of a map, failing on keys not in `allowed`.
  void Entries(const YAML::Node& map, const std::string& what, const std::vector<std::string>& allowed,
               const std::function<void(const std::string&, const YAML::Node&)>& fn) const {
    if (!map.IsMap()) Fail(map, what + " must be a mapping");
    for (const auto& kv : map) {
      const std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        Fail(kv.first, "unknown key '" + key + "' in " + what + " (expected " + list + ")");
      }
      fn(key, kv.second);
    }
  }

  std::vector<Match> Selectors(const YAML::Node& n, const std::string& key) const {
    std::vector<Match> out;
    if (!n.IsSequence()) Fail(n, key + " must be a list of selectors");
    for (const auto& item : n) {
      Match m;
      Status s = ParseSelector(Text(item, key), &m);
      if (!s.ok()) Fail(item, s.message());
      out.push_back(std::move(m));
    }
    return out;
  }

  Match ReadMatch(const YAML::Node& n) const {
    Match m;
    Entries(n, "match", {"name", "node", "op", "role", "activation"}, [&](const std::string& key, const YAML::Node& v) {
      Pattern p;
      Status s = Pattern::Parse(Text(v, key), &p);
      if (!s.ok()) Fail(v, s.message());
      std::optional<Pattern>* slot = key == "name" ? &m.name : key == "node" ? &m.node : key == "op" ? &m.op
                                     : key == "role" ? &m.role : &m.activation;
      *slot = std::move(p);
      m.text += (m.text.empty() ? "" : " ") + key + "=" + v.Scalar();
    });
    return m;
  }

  InitSpec ReadInit(const YAML::Node& n) const {
    InitSpec init;
    Entries(n, "init", {"scheme", "distribution", "gain", "mode", "std", "bound", "value"},
            [&](const std::string& key, const YAML::Node& v) {
              if (key == "scheme") init.scheme = Enum<Scheme>(v, key, ParseScheme,
                                                             "xavier, he, lecun, orthogonal, normal, uniform or constant");
              if (key == "distribution") init.distribution = Enum<Distribution>(v, key, ParseDistribution,
                                                                               "uniform, normal or truncated_normal");
              if (key == "gain") init.gain = Gain(v);
              if (key == "mode") init.mode = Enum<FanMode>(v, key, ParseFanMode, "fan_in, fan_out or fan_avg");
              if (key == "std") init.std = Number(v, key);
              if (key == "bound") init.bound = Number(v, key);
              if (key == "value") init.value = Number(v, key);
            });
    if (init.std && *init.std < 0) Fail(n, "std must not be negative");
    if (init.bound && *init.bound < 0) Fail(n, "bound must not be negative");
    if (init.scheme == Scheme::kNormal && !init.std) Fail(n, "scheme normal needs std");
    if (init.scheme == Scheme::kUniform && !init.bound) Fail(n, "scheme uniform needs bound");
    if (init.scheme == Scheme::kConstant && !init.value) Fail(n, "scheme constant needs value");
    if (init.value && !init.scheme) init.scheme = Scheme::kConstant;
    if (init.std && !init.scheme) init.scheme = Scheme::kNormal;
    if (init.bound && !init.scheme) init.scheme = Scheme::kUniform;
    return init;
  }

  void Read(const YAML::Node& root, Policy* policy) const {
    Entries(root, "the rules file",
            {"preset", "seed", "distribution", "gain", "mode", "forget_bias", "embedding_std", "residual_scaling",
             "only", "exclude", "keep", "reinit_last", "reinit_blocks", "allow_empty", "rules"},
            [&](const std::string& key, const YAML::Node& v) {
              if (key == "preset") {
                policy->preset = Text(v, key);
                if (!FindPreset(policy->preset)) Fail(v, "preset must be note, pytorch, keras or jax, not '" + policy->preset + "'");
              }
              if (key == "seed") {
                const double s = Number(v, key);
                if (s < 0 || s != std::floor(s)) Fail(v, "seed must be a non-negative integer");
                policy->seed = static_cast<uint64_t>(s);
              }
              if (key == "distribution") policy->distribution = Enum<Distribution>(v, key, ParseDistribution,
                                                                                  "uniform, normal or truncated_normal");
              if (key == "gain") policy->gain = Gain(v);
              if (key == "mode") policy->mode = Enum<FanMode>(v, key, ParseFanMode, "fan_in, fan_out or fan_avg");
              if (key == "forget_bias") policy->forget_bias = Number(v, key);
              if (key == "embedding_std") policy->embedding_std = Number(v, key);
              if (key == "residual_scaling") {
                const std::string r = Text(v, key);
                if (r == "none") policy->residual = ResidualScaling::kNone;
                else if (r == "gpt2") policy->residual = ResidualScaling::kGpt2;
                else if (r == "zero") policy->residual = ResidualScaling::kZero;
                else Fail(v, "residual_scaling must be none, gpt2 or zero, not '" + r + "'");
              }
              if (key == "only") policy->selection.only = Selectors(v, key);
              if (key == "exclude") policy->selection.exclude = Selectors(v, key);
              if (key == "keep") policy->selection.keep = Selectors(v, key);
              if (key == "reinit_last" || key == "reinit_blocks") {
                const double n = Number(v, key);
                if (n < 1 || n != std::floor(n)) Fail(v, key + " must be a positive integer");
                (key == "reinit_last" ? policy->selection.reinit_last : policy->selection.reinit_blocks) =
                    static_cast<int64_t>(n);
              }
              if (key == "allow_empty") policy->selection.allow_empty = Text(v, key) == "true";
              if (key == "rules") {
                if (!v.IsSequence()) Fail(v, "rules must be a list");
                for (const auto& item : v) {
                  Rule rule;
                  rule.origin = Where(item);
                  bool has_match = false, has_action = false;
                  Entries(item, "a rule", {"match", "init", "keep"}, [&](const std::string& k, const YAML::Node& x) {
                    if (k == "match") {
                      rule.match = ReadMatch(x);
                      has_match = true;
                    }
                    if (k == "init") {
                      rule.init = ReadInit(x);
                      has_action = true;
                    }
                    if (k == "keep") {
                      rule.init.keep = Text(x, k) == "true";
                      has_action = true;
                    }
                  });
                  if (!has_match) Fail(item, "a rule needs match");
                  if (!has_action) Fail(item, "a rule needs init or keep");
                  policy->rules.push_back(std::move(rule));
                }
              }
            });
  }

 private:
  std::string path_;
};

}  // namespace

Status LoadRulesFile(const std::string& path, Policy* policy) {
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsNull()) return Status::Ok();  // an empty file changes nothing
    RulesReader(path).Read(root, policy);
  } catch (const FileError& e) {
    return {ExitCode::kUsage, e.message};
  } catch (const YAML::BadFile&) {
    return {ExitCode::kUsage, path + ": cannot read the rules file"};
  } catch (const YAML::Exception& e) {
    return {ExitCode::kUsage, path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
  return Status::Ok();
}

}  // namespace reinit
