#include "passes/policy/settings.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace reinit {

using json = nlohmann::ordered_json;

namespace {

std::string Quoted(const std::string& text) { return "'" + text + "'"; }

bool AllDigits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::string ParseUint64(const std::string& text, uint64_t* value) {
  const std::string wrong = "must be an integer from 0 to 18446744073709551615, not " + Quoted(text);
  if (!AllDigits(text)) return wrong;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return wrong;
  *value = v;
  return "";
}

std::string ParseNonNegativeInteger(const std::string& text, uint64_t* value, uint64_t max) {
  uint64_t v = 0;
  if (!ParseUint64(text, &v).empty() || v > max) {
    return "must be an integer from 0 to " + std::to_string(max) + ", not " + Quoted(text);
  }
  *value = v;
  return "";
}

std::string ParsePositiveInteger(const std::string& text, int64_t* value) {
  uint64_t v = 0;
  const uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!ParseUint64(text, &v).empty() || v < 1 || v > max) return "must be a positive integer, not " + Quoted(text);
  *value = static_cast<int64_t>(v);
  return "";
}

std::string ParseNumber(const std::string& text, double* value) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) return "must be a number, not " + Quoted(text);
  *value = v;
  return "";
}

std::string ParsePositiveNumber(const std::string& text, double* value) {
  double v = 0;
  if (!ParseNumber(text, &v).empty() || !(v > 0)) return "must be a positive number, not " + Quoted(text);
  *value = v;
  return "";
}

std::string ParseBool(const std::string& text, bool* value) {
  // YAML 1.1's spellings, which a rules file may use ("allow_empty: yes").
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (text == t) return *value = true, "";
  }
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (text == f) return *value = false, "";
  }
  return "must be true or false, not " + Quoted(text);
}

namespace {

template <typename E, std::optional<E> Policy::*field>
std::string SetOptionalName(const std::string& text, Policy& p) {
  const std::optional<E> v = ParseName<E>(text);
  if (!v) return "must be " + NameList<E>() + ", not " + Quoted(text);
  p.*field = *v;
  return "";
}

template <std::vector<Match> Selection::*field>
std::string AddSelector(const std::string& text, Policy& p) {
  Match m;
  const Status s = ParseSelector(text, &m);
  if (!s.ok()) return s.message();
  (p.selection.*field).push_back(std::move(m));
  return "";
}

template <std::vector<Match> Selection::*field>
void ClearSelectors(Policy& p) {
  (p.selection.*field).clear();
}

template <std::vector<Match> Selection::*field>
json EchoSelectors(const Policy& p) {
  json a = json::array();
  for (const auto& m : p.selection.*field) a.push_back(m.text);
  return a;
}

template <std::optional<int64_t> Selection::*field>
std::string SetCount(const std::string& text, Policy& p) {
  int64_t n = 0;
  std::string error = ParsePositiveInteger(text, &n);
  if (error.empty()) p.selection.*field = n;
  return error;
}

template <std::optional<int64_t> Selection::*field>
json EchoCount(const Policy& p) {
  return p.selection.*field ? json(*(p.selection.*field)) : json(nullptr);
}

json EchoGain(const std::optional<double>& gain) {
  if (!gain) return "preset";
  return std::isnan(*gain) ? json("auto") : json(*gain);
}

// A gain: a positive number, or "auto" (torch.nn.init.calculate_gain of the layer's activation),
// stored as NaN.
std::string SetGain(const std::string& text, Policy& p) {
  if (text == "auto") {
    p.gain = std::numeric_limits<double>::quiet_NaN();
    return "";
  }
  double g = 0;
  if (!ParsePositiveNumber(text, &g).empty()) return "must be a positive number or auto, not " + Quoted(text);
  p.gain = g;
  return "";
}

std::string PresetList() {
  std::string list;
  const auto& presets = Presets();
  for (size_t i = 0; i < presets.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == presets.size() ? " or " : ", ") + std::string(presets[i].name);
  }
  return list;
}

}  // namespace

const std::vector<Setting>& Settings() {
  constexpr unsigned kAll = kEveryCommand;
  // clang-format off
  static const std::vector<Setting> kSettings = {
    {"preset", "--preset", "NAME", "the defaults to start from: note (default), pytorch, torch-gain, keras, jax, hf, bert, gpt2 or proxy", kAll, false,
     [](const std::string& t, Policy& p) -> std::string {
       if (!FindPreset(t)) return "must be " + PresetList() + ", not " + Quoted(t);
       p.preset = t;
       return "";
     }, nullptr, "name", false, [](const Policy& p) { return json(p.preset); }},
    {"seed", "--seed", "N", "random seed, 0 to 2^64-1 (default 0): the same seed gives the same bytes",
     kPlanCommand | kRewriteCommand, false,
     [](const std::string& t, Policy& p) { return ParseUint64(t, &p.seed); }, nullptr, nullptr, false, nullptr},
    {"distribution", "--distribution", "D", "uniform, normal or truncated_normal, for Xavier/He/LeCun", kAll, false,
     SetOptionalName<Distribution, &Policy::distribution>, nullptr, "distribution", false,
     [](const Policy& p) { return json(NameOf(p.distribution.value_or(p.preset_rules().distribution))); }},
    {"gain", "--gain", "X", "multiply Xavier/He/LeCun std by X, or auto (torch.nn.init.calculate_gain)", kAll, false,
     SetGain, nullptr, "gain", false, [](const Policy& p) { return EchoGain(p.gain); }},
    {"mode", "--mode", "M", "fan_in, fan_out or fan_avg: the fan Xavier/He/LeCun divide by", kAll, false,
     SetOptionalName<FanMode, &Policy::mode>, nullptr, "mode", false,
     [](const Policy& p) { return p.mode ? json(NameOf(*p.mode)) : json("preset"); }},
    {"forget_bias", "--forget-bias", "B", "LSTM forget-gate bias (default 0; keras preset 1)", kAll, false,
     [](const std::string& t, Policy& p) {
       double v = 0;
       std::string error = ParseNumber(t, &v);
       if (error.empty()) p.forget_bias = v;
       return error;
     }, nullptr, "forget_bias", false,
     [](const Policy& p) { return json(p.forget_bias.value_or(p.preset_rules().forget_bias)); }},
    {"embedding_std", "--embedding-std", "S", "draw embeddings from N(0, S^2)", kAll, false,
     [](const std::string& t, Policy& p) {
       double v = 0;
       std::string error = ParsePositiveNumber(t, &v);
       if (error.empty()) p.embedding_std = v;
       return error;
     }, nullptr, "embedding_std", false,
     [](const Policy& p) { return p.embedding_std ? json(*p.embedding_std) : json("preset"); }},
    {"residual_scaling", "--residual-scaling", "R",
     "none (default; preset gpt2: gpt2), gpt2 (last layer of each residual branch * 1/sqrt(branches)), deepnorm "
     "(* (8 branches)^-1/4), fixup (last layer 0, the branch's other m-1 layers * branches^(-1/(2m-2))) or zero "
     "(last layer 0)", kAll, false,
     [](const std::string& t, Policy& p) -> std::string {
       const auto v = ParseName<ResidualScaling>(t);
       if (!v) return "must be " + NameList<ResidualScaling>() + ", not " + Quoted(t);
       p.residual = *v;
       return "";
     }, nullptr, "residual_scaling", false, [](const Policy& p) { return json(NameOf(p.residual_scaling())); }},
    {"init_range", "--init-range", "R", "the std of the hf, bert and gpt2 presets' normal draws (default 0.02: "
     "initializer_range)", kAll, false,
     [](const std::string& t, Policy& p) { return ParsePositiveNumber(t, &p.init_range); }, nullptr, "init_range",
     false, [](const Policy& p) { return json(p.init_range); }},
    {"reinit_fixed", "--reinit-fixed", nullptr,
     "also re-initialize fixed constants (DFT bases, filterbanks, smoothing kernels), which are kept otherwise", kAll,
     false, [](const std::string& t, Policy& p) { return ParseBool(t, &p.reinit_fixed); }, nullptr, "reinit_fixed",
     false, [](const Policy& p) { return json(p.reinit_fixed); }},
    {"preserve_signal", "--preserve-signal", nullptr,
     "scale each plain layer so its predicted pre-activation second moment stays where the signal entered "
     "(data-free LSUV; audit shows the effect)", kAll, false,
     [](const std::string& t, Policy& p) { return ParseBool(t, &p.preserve_signal); }, nullptr, "preserve_signal",
     false, [](const Policy& p) { return json(p.preserve_signal); }},
    {"only", "--only", "SEL", "re-initialize only tensors matching [field=]glob or /regex/ (repeatable)", kAll, true,
     AddSelector<&Selection::only>, ClearSelectors<&Selection::only>, "only", true, EchoSelectors<&Selection::only>},
    {"exclude", "--exclude", "SEL", "leave tensors matching this selector alone (repeatable; wins)", kAll, true,
     AddSelector<&Selection::exclude>, ClearSelectors<&Selection::exclude>, "exclude", true,
     EchoSelectors<&Selection::exclude>},
    {"keep", "--keep", "SEL", "freeze tensors matching this selector (repeatable; wins)", kAll, true,
     AddSelector<&Selection::keep>, ClearSelectors<&Selection::keep>, "keep", true, EchoSelectors<&Selection::keep>},
    {"reinit_last", "--reinit-last", "N", "only the last N parameterized layers, with their biases and norms", kAll,
     false, SetCount<&Selection::reinit_last>, nullptr, "reinit_last", true, EchoCount<&Selection::reinit_last>},
    {"reinit_blocks", "--reinit-blocks", "N", "only the last N repeated blocks (transformer layers, stages)", kAll,
     false, SetCount<&Selection::reinit_blocks>, nullptr, "reinit_blocks", true, EchoCount<&Selection::reinit_blocks>},
    {"allow_empty", "--allow-empty", nullptr, "a selector or rule that matches nothing is a warning, not an error",
     kAll, false,
     [](const std::string& t, Policy& p) { return ParseBool(t, &p.selection.allow_empty); }, nullptr,
     "allow_empty", true, [](const Policy& p) { return json(p.selection.allow_empty); }},
  };
  // clang-format on
  return kSettings;
}

const Setting* FindSetting(const std::string& key) {
  for (const auto& s : Settings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

}  // namespace reinit
