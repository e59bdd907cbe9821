// The settings table (passes/policy/settings.h): the command line and a rules file accept and refuse exactly
// the same values, with the same words, and the JSON echo lists what was set.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "passes/policy/policy.h"
#include "passes/policy/settings.h"
#include "tests/test_util.h"
#include "tool/options.h"

namespace reinit {
namespace {

// Values every setting is tried with: the ones that trip a parser (signs, ranges, non-numbers,
// non-finite numbers, YAML booleans) and ordinary ones.
const std::vector<std::string> kValues = {
    "0",    "1",     "-1",   "2.5",   "1e400", "nan",      "inf",   "auto", "yes",
    "no",   "true",  "abc",  "",      "0x10",  "18446744073709551615", "18446744073709551616",
    "note", "keras", "none", "gpt2",  "normal", "fan_out", "op=Gemm", "name=/x(/", "bogus=x"};

struct Outcome {
  bool accepted;
  std::string error;  // what follows the flag or the key
};

Outcome FromCommandLine(const Setting& s, const std::string& value) {
  std::vector<std::string> words = {"onnx-reinit", "plan", "model.onnx", s.flag};
  if (s.value_name != nullptr) words.push_back(value);
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  Options o;
  std::ostringstream out, err;
  const int stop = ParseCommandLine(static_cast<int>(argv.size()), argv.data(), &o, out, err);
  if (stop < 0) return {true, ""};
  const std::string prefix = std::string("onnx-reinit: error: ") + s.flag + " ", suffix = " (see --help)\n";
  std::string e = err.str();
  if (e.rfind(prefix, 0) == 0 && e.size() > prefix.size() + suffix.size()) {
    e = e.substr(prefix.size(), e.size() - prefix.size() - suffix.size());
  }
  return {false, e};
}

Outcome FromRulesFile(const Setting& s, const std::string& value, const std::string& dir) {
  const std::string path = dir + "/rules.yaml";
  std::string quoted = "\"";
  for (char c : value) quoted += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  quoted += "\"";
  {
    std::ofstream f(path);
    f << s.key << ": " << (s.list ? "[" + quoted + "]" : quoted) << "\n";
  }
  Policy policy;
  const Status status = LoadRulesFile(path, &policy);
  if (status.ok()) return {true, ""};
  const std::string prefix = path + ":1: " + s.key + " ";
  std::string e = status.message();
  if (e.rfind(prefix, 0) == 0) e = e.substr(prefix.size());
  return {false, e};
}

TEST(Settings, CommandLineAndRulesFileAcceptAndRefuseTheSameValues) {
  const std::string dir = test::TempDir("settings");
  int compared = 0;
  for (const Setting& s : Settings()) {
    if (s.value_name == nullptr) continue;  // a flag: no value on the command line
    for (const std::string& value : kValues) {
      if (value.empty()) continue;  // an empty value is a missing one on the command line
      const Outcome cli = FromCommandLine(s, value), file = FromRulesFile(s, value, dir);
      EXPECT_EQ(cli.accepted, file.accepted) << s.key << " = '" << value << "': " << cli.error << " | " << file.error;
      EXPECT_EQ(cli.error, file.error) << s.key << " = '" << value << "'";
      ++compared;
    }
  }
  EXPECT_GT(compared, 200);
  std::filesystem::remove_all(dir);
}

// --init-range: finite and > 0, on the command line and in a rules file alike, echoed in the policy.
TEST(Settings, InitRangeIsAFinitePositiveNumber) {
  const std::string dir = test::TempDir("settings-init-range");
  for (const char* bad : {"0", "-0.02", "nan", "inf", "1e999", "x"}) {
    const Outcome cli = FromCommandLine(*FindSetting("init_range"), bad);
    EXPECT_FALSE(cli.accepted) << bad;
    EXPECT_EQ(cli.error, std::string("must be a positive number, not '") + bad + "'") << bad;
    EXPECT_FALSE(FromRulesFile(*FindSetting("init_range"), bad, dir).accepted) << bad;
  }
  Policy p;
  EXPECT_EQ(p.ToJson()["init_range"], 0.02);
  ASSERT_EQ(FindSetting("init_range")->set("0.05", p), "");
  EXPECT_EQ(p.init_range, 0.05);
  EXPECT_EQ(p.ToJson()["init_range"], 0.05);
  std::filesystem::remove_all(dir);
}

TEST(Settings, TheValuesTheIssueFoundDisagreeingNoLongerDo) {
  const std::string dir = test::TempDir("settings-cases");
  EXPECT_FALSE(FromRulesFile(*FindSetting("embedding_std"), "0", dir).accepted);
  EXPECT_FALSE(FromCommandLine(*FindSetting("embedding_std"), "0").accepted);
  // allow_empty: YAML's spellings of true and false mean what they say; anything else is refused.
  for (const auto& [text, expected] : std::vector<std::pair<std::string, bool>>{{"yes", true}, {"on", true}, {"true", true},
                                                                                 {"no", false}, {"false", false}}) {
    std::ofstream(dir + "/r.yaml") << "allow_empty: " << text << "\n";
    Policy p;
    ASSERT_TRUE(LoadRulesFile(dir + "/r.yaml", &p).ok()) << text;
    EXPECT_EQ(p.selection.allow_empty, expected) << text;
  }
  std::ofstream(dir + "/r.yaml") << "allow_empty: maybe\n";
  Policy p;
  EXPECT_EQ(LoadRulesFile(dir + "/r.yaml", &p).message(), dir + "/r.yaml:1: allow_empty must be true or false, not 'maybe'");
  // A seed beyond 2^53 is kept exactly (it used to pass through a double).
  std::ofstream(dir + "/r.yaml") << "seed: 18446744073709551615\n";
  ASSERT_TRUE(LoadRulesFile(dir + "/r.yaml", &p).ok());
  EXPECT_EQ(p.seed, 18446744073709551615ull);
  std::filesystem::remove_all(dir);
}

TEST(Settings, EveryEchoedSettingIsInThePolicyJsonOnce) {
  Policy p;
  const auto j = p.ToJson();
  for (const Setting& s : Settings()) {
    if (s.echo == nullptr) continue;
    const auto& where = s.in_selection ? j.at("selection") : j;
    EXPECT_TRUE(where.contains(s.echo_key)) << s.key;
  }
  EXPECT_TRUE(j.contains("rules"));
}

}  // namespace
}  // namespace reinit
