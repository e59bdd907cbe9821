#include "passes/policy/policy.h"

#include "passes/policy/settings.h"

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

// transformers' _init_weights, one entry per alias: Linear, Conv1D and embedding weights by --init-range
// whatever the activation, biases 0; `residual` is the variant's depth scaling. The per-activation rules
// are the note's, for the roles _init_weights does not draw (recurrent weights).
Preset HuggingFace(const char* name, const char* description, ResidualScaling residual) {
  const VarianceScaling xavier{Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist};
  return {name, description, xavier, xavier, {Scheme::kLeCun, 1, FanMode::kFanIn, kInputDist}, xavier,
          false, false, D::kNormal, FanConvention::kFramework, RecurrentRule::kPerGate, xavier, 0.0,
          EmbeddingRule::kNormal, 1.0, 0.25, WeightRule::kInitRange, BiasRule::kZero, false, residual};
}
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
    // What torch.nn builds, whatever the activation: each module's reset_parameters (torch/nn/modules/
    // linear.py, conv.py: kaiming_uniform_(w, a=sqrt(5)), i.e. gain sqrt(2/(1+5)) on sqrt(3/fan_in), so
    // U(+-1/sqrt(fan_in)), and the bias U(+-1/sqrt(fan_in)) with the weight's fan_in; rnn.py: every
    // parameter U(+-1/sqrt(H)); sparse.py: N(0, 1); batchnorm.py, normalization.py: 1 and 0, running
    // mean 0, var 1; activation.py: PReLU 0.25, MultiheadAttention._reset_parameters).
    {"pytorch", "what torch.nn modules do when constructed (reset_parameters): Linear/Conv weight and bias U(+-1/sqrt(fan_in)), RNN U(+-1/sqrt(H)), MultiheadAttention xavier in_proj",
     {Scheme::kHe, 1.0 / 3, FanMode::kFanIn, D::kUniform}, {Scheme::kHe, 1.0 / 3, FanMode::kFanIn, D::kUniform},
     {Scheme::kHe, 1.0 / 3, FanMode::kFanIn, D::kUniform}, {Scheme::kHe, 1.0 / 3, FanMode::kFanIn, D::kUniform},
     false, false, D::kUniform, FanConvention::kFramework, RecurrentRule::kTorchDefault,
     {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist}, 0.0,
     EmbeddingRule::kNormal, 1.0, 0.25, WeightRule::kTorchReset, BiasRule::kFanInUniform, /*torch_attention*/ true},
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
    // The pytorch preset before it followed reset_parameters: torch.nn.init's kaiming_/xavier_ as a
    // training script calls them, with calculate_gain of the activation (torch/nn/init.py).
    {"torch-gain", "torch.nn.init: kaiming_/xavier_ with calculate_gain (tanh 5/3, selu 3/4), torch's fan convention, nn.LSTM's own reset",
     {Scheme::kHe, 1, FanMode::kFanIn, kInputDist}, {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     {Scheme::kLeCun, 1, FanMode::kFanIn, kInputDist}, {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     true, true, D::kUniform, FanConvention::kFramework, RecurrentRule::kTorchDefault,
     {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist}, 0.0,
     EmbeddingRule::kNormal, 1.0, 0.25},
    // transformers' BertPreTrainedModel._init_weights and GPT2PreTrainedModel._init_weights: nn.Linear,
    // Conv1D and nn.Embedding weights normal_(0, initializer_range), biases zero_, LayerNorm 1 and 0.
    // BERT scales nothing by depth; GPT-2 draws c_proj (attention and MLP), the projections whose
    // output is added to the residual stream, with std R/sqrt(2 n_layer): --residual-scaling gpt2.
    HuggingFace("hf", "Hugging Face _init_weights (BERT, GPT-2): Linear, Conv1D and embedding weights N(0, R^2) (R = --init-range, 0.02), biases 0, LayerNorm 1 and 0",
                ResidualScaling::kNone),
    HuggingFace("bert", "hf (BertPreTrainedModel._init_weights: no depth scaling)", ResidualScaling::kNone),
    HuggingFace("gpt2", "hf with GPT2PreTrainedModel's residual projections (c_proj) at R/sqrt(2 n_layer) (--residual-scaling gpt2)",
                ResidualScaling::kGpt2),
    {"proxy", "a stand-in for the trained weights: each parameter drawn from N(mean, std^2) of its own values, per output channel; running statistics kept",
     {Scheme::kHe, 2, FanMode::kFanIn, kInputDist}, {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     {Scheme::kLeCun, 1, FanMode::kFanIn, kInputDist}, {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist},
     false, true, D::kNormal, FanConvention::kLayout, RecurrentRule::kPerGate,
     {Scheme::kXavier, 1, FanMode::kFanAvg, kInputDist}, 0.0,
     EmbeddingRule::kNormal, 1.0, 0.25, WeightRule::kByActivation, BiasRule::kZero, false,
     ResidualScaling::kNone, /*proxy*/ true},
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

json InitSpec::ToJson() const {
  json j = json::object();
  if (keep) j["keep"] = true;
  if (scheme) j["scheme"] = NameOf(*scheme);
  if (distribution) j["distribution"] = NameOf(*distribution);
  if (gain) j["gain"] = std::isnan(*gain) ? json("auto") : json(*gain);
  if (mode) j["mode"] = NameOf(*mode);
  if (std) j["std"] = *std;
  if (bound) j["bound"] = *bound;
  if (value) j["value"] = *value;
  return j;
}

json Policy::ToJson() const {
  // Settings::echo gives each setting's value; the rules sit between the settings and the selection.
  json top = json::object(), selection = json::object();
  for (const Setting& setting : Settings()) {
    if (setting.echo != nullptr) (setting.in_selection ? selection : top)[setting.echo_key] = setting.echo(*this);
  }
  json rules_json = json::array();
  for (const auto& r : rules) rules_json.push_back({{"match", r.match.text}, {"init", r.init.ToJson()}, {"origin", r.origin}});
  top["rules"] = rules_json;
  top["selection"] = selection;
  return top;
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

  // A value checked by `parse` (one of the parsers of passes/policy/settings.h), or a failure at its line.
  template <typename T>
  T Value(const YAML::Node& n, const std::string& key, std::string (*parse)(const std::string&, T*)) const {
    T v{};
    const std::string error = parse(Text(n, key), &v);
    if (!error.empty()) Fail(n, key + " " + error);
    return v;
  }

  template <typename E>
  E Name(const YAML::Node& n, const std::string& key) const {
    const std::optional<E> v = ParseName<E>(Text(n, key));
    if (!v) Fail(n, key + " must be " + NameList<E>() + ", not '" + n.Scalar() + "'");
    return *v;
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
              if (key == "scheme") init.scheme = Name<Scheme>(v, key);
              if (key == "distribution") init.distribution = Name<Distribution>(v, key);
              if (key == "gain") {
                Policy gain;  // the --gain setting's parser: a positive number or auto
                const std::string error = FindSetting("gain")->set(Text(v, key), gain);
                if (!error.empty()) Fail(v, "gain " + error);
                init.gain = gain.gain;
              }
              if (key == "mode") init.mode = Name<FanMode>(v, key);
              if (key == "std") init.std = Value<double>(v, key, ParsePositiveNumber);
              if (key == "bound") init.bound = Value<double>(v, key, ParsePositiveNumber);
              if (key == "value") init.value = Value<double>(v, key, ParseNumber);
            });
    if (init.scheme == Scheme::kNormal && !init.std) Fail(n, "scheme normal needs std");
    if (init.scheme == Scheme::kUniform && !init.bound) Fail(n, "scheme uniform needs bound");
    if (init.scheme == Scheme::kConstant && !init.value) Fail(n, "scheme constant needs value");
    if (init.value && !init.scheme) init.scheme = Scheme::kConstant;
    if (init.std && !init.scheme) init.scheme = Scheme::kNormal;
    if (init.bound && !init.scheme) init.scheme = Scheme::kUniform;
    return init;
  }

  Rule ReadRule(const YAML::Node& item) const {
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
        rule.init.keep = Value<bool>(x, k, ParseBool);
        has_action = true;
      }
    });
    if (!has_match) Fail(item, "a rule needs match");
    if (!has_action) Fail(item, "a rule needs init or keep");
    return rule;
  }

  // A setting of passes/policy/settings.h: one value, or a list of them for a list setting.
  void ReadSetting(const Setting& setting, const YAML::Node& v, Policy* policy) const {
    auto set = [&](const YAML::Node& item) {
      const std::string error = setting.set(Text(item, setting.key), *policy);
      if (!error.empty()) Fail(item, std::string(setting.key) + " " + error);
    };
    if (!setting.list) return set(v);
    if (!v.IsSequence()) Fail(v, std::string(setting.key) + " must be a list");
    setting.clear(*policy);
    for (const auto& item : v) set(item);
  }

  void Read(const YAML::Node& root, Policy* policy) const {
    std::vector<std::string> keys;
    for (const Setting& s : Settings()) keys.push_back(s.key);
    keys.push_back("rules");
    Entries(root, "the rules file", keys, [&](const std::string& key, const YAML::Node& v) {
      if (key != "rules") return ReadSetting(*FindSetting(key), v, policy);
      if (!v.IsSequence()) Fail(v, "rules must be a list");
      for (const auto& item : v) policy->rules.push_back(ReadRule(item));
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
