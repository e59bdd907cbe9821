// Preset proxy: which stored elements make a channel (passes/proxy_source.h), read against layouts
// computed here from the ONNX spec, and draws that stay with their own channel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "passes/graph/tensor_values.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

Policy Proxy() {
  Policy p;
  p.preset = "proxy";
  return p;
}

// Sets a float tensor's values to f(element index).
template <typename F>
void Fill(onnx::TensorProto* t, F f) {
  int64_t n = 0;
  ASSERT_TRUE(ElementCount(*t, &n).ok());
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = f(i);
  ASSERT_TRUE(WriteValues(v, t).ok());
}

// Channel c's values sit around 10*c with a spread of 0.5 + 0.1*c: far apart, so a draw that used
// another channel's statistics lands outside its own channel's 7-sigma band.
double Centre(int64_t c) { return 10.0 * static_cast<double>(c); }
double Spread(int64_t c) { return 0.5 + 0.1 * static_cast<double>(c); }
double Value(int64_t c, int64_t i) { return Centre(c) + Spread(c) * ((i % 2 == 0) ? 1.0 : -1.0); }

// Every value the rewrite wrote for `name` is within 7 stds of its own channel's source mean, and each
// channel's source statistics are the ones the report gives.
void ExpectOwnChannel(const test::Run& run, const std::string& name, int64_t channels,
                      const std::function<int64_t(int64_t)>& channel_of) {
  const ParamRow& row = run.Row(name);
  ASSERT_EQ(row.init.scheme, Scheme::kProxy) << row.init.reason;
  ASSERT_EQ(row.init.proxy->channels(), channels) << row.init.proxy->layout;
  for (int64_t c = 0; c < channels; ++c) {
    EXPECT_NEAR(row.init.proxy->mean[c], Centre(c), 1e-5) << name << " channel " << c;
    EXPECT_NEAR(row.init.proxy->std[c], Spread(c), 1e-5) << name << " channel " << c;
  }
  const std::vector<double> v = test::Values(*row.tensor);
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t c = channel_of(static_cast<int64_t>(i));
    EXPECT_LT(std::fabs(v[i] - Centre(c)), 7 * Spread(c)) << name << " element " << i << " of channel " << c;
  }
}

TEST(Proxy, TheCursorStepsThroughTheSameChannelsAsTheLookup) {
  ProxySource s;  // a grouped ConvTranspose [C=6, M/g=3, 2, 2], group 3: runs of 4, 3 channels, 3 groups
  s.stride = 4;
  s.count = 3;
  s.outer_stride = 2 * 3 * 4;
  s.outer_count = 3;
  for (int64_t first : {0, 1, 5, 23, 24, 47}) {
    ChannelCursor cursor(s, first);
    for (int64_t i = first; i < 72; ++i, cursor.next()) ASSERT_EQ(cursor.channel(), s.Channel(i)) << first << " " << i;
  }
}

TEST(Proxy, GroupedConvTransposeDrawsEachOutputChannelFromItself) {
  // W [C=4, M/g=3, 2, 2], group 2: output channel g*3 + m reads rows [2g, 2g+2) of axis 0, column m.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,4,5,5] X) => (float[1,6,6,6] Y) { Y = ConvTranspose <group = 2> (X, W) })");
  onnx::TensorProto* w = test::AddInitializer(m, "W", {4, 3, 2, 2});
  auto channel_of = [](int64_t i) { return (i / 24) * 3 + (i / 4) % 3; };  // i / (C/g*3*4): the group
  Fill(w, [&](int64_t i) { return Value(channel_of(i), i); });
  auto run = test::Rewrite(std::move(m), Proxy());
  ASSERT_TRUE(run->status.ok()) << run->status.message();
  ExpectOwnChannel(*run, "W", 6, channel_of);
}

TEST(Proxy, GemmWithoutTransBDrawsPerColumnAndWithTransBPerRow) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,6] X) => (float[2,4] Y, float[2,4] Z) { Y = Gemm (X, B) Z = Gemm <transB = 1> (X, T) })");
  onnx::TensorProto* b = test::AddInitializer(m, "B", {6, 4});  // [K, N]: channel = column
  onnx::TensorProto* t = test::AddInitializer(m, "T", {4, 6});  // [N, K]: channel = row
  Fill(b, [](int64_t i) { return Value(i % 4, i / 4); });
  Fill(t, [](int64_t i) { return Value(i / 6, i); });
  auto run = test::Rewrite(std::move(m), Proxy());
  ASSERT_TRUE(run->status.ok()) << run->status.message();
  ExpectOwnChannel(*run, "B", 4, [](int64_t i) { return i % 4; });
  ExpectOwnChannel(*run, "T", 4, [](int64_t i) { return i / 6; });
}

TEST(Proxy, AWeightReadThroughATransposeIsDrawnPerTensorAndSaysWhy) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,6] X) => (float[2,4] Y) { WT = Transpose (W) Y = MatMul (X, WT) })");
  test::AddInitializer(m, "W", {4, 6});
  auto run = test::Plan(std::move(m), Proxy());
  const ParamRow& w = run->Row("W");
  ASSERT_EQ(w.init.scheme, Scheme::kProxy);
  EXPECT_EQ(w.init.proxy->channels(), 1);
  EXPECT_NE(w.init.reason.find("through Transpose"), std::string::npos) << w.init.reason;
}

TEST(Proxy, AnEmptyWeightIsRewrittenAsEmpty) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,0] X) => (float[2,4] Y) { Y = MatMul (X, W) })");
  test::AddInitializer(m, "W", {0, 4});
  auto run = test::Rewrite(std::move(m), Proxy());
  ASSERT_TRUE(run->status.ok()) << run->status.message();
  EXPECT_TRUE(test::Values(*run->Row("W").tensor).empty());
}

TEST(Proxy, RunningStatisticsAreKeptAndTheReasonSaysWhy) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,2,3,3] X) => (float[1,2,3,3] Y) { Y = BatchNormalization (X, S, B, M, V) })");
  for (const char* name : {"S", "B", "M", "V"}) test::AddInitializer(m, name, {2});
  auto run = test::Plan(std::move(m), Proxy());
  for (const char* name : {"M", "V"}) {
    EXPECT_EQ(run->Row(name).init.action, Action::kKeep) << name;
    EXPECT_NE(run->Row(name).init.reason.find("running statistics stay"), std::string::npos);
  }
  for (const char* name : {"S", "B"}) EXPECT_EQ(run->Row(name).init.scheme, Scheme::kProxy) << name;
}

TEST(Proxy, ARuleThatNamesASchemeWinsOverTheProxy) {
  Policy policy = Proxy();
  Rule rule;
  ASSERT_TRUE(Pattern::Parse("W", &rule.match.name.emplace()).ok());
  rule.match.text = "name=W";
  rule.init.scheme = Scheme::kConstant;
  rule.init.value = 0.5;
  rule.origin = "test:1";
  policy.rules.push_back(rule);
  // A later rule that only tunes the gain of every tensor neither undoes the first nor replaces the proxy.
  Rule gain;
  ASSERT_TRUE(Pattern::Parse("*", &gain.match.name.emplace()).ok());
  gain.match.text = "name=*";
  gain.init.gain = 2.0;
  gain.origin = "test:2";
  policy.rules.push_back(gain);
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2,6] X) => (float[2,4] Y) { Y = Gemm (X, W, C) })");
  test::AddInitializer(m, "W", {6, 4});
  test::AddInitializer(m, "C", {4});
  auto run = test::Plan(std::move(m), policy);
  EXPECT_EQ(run->Row("W").init.scheme, Scheme::kConstant);
  EXPECT_EQ(run->Row("C").init.scheme, Scheme::kProxy);
}

}  // namespace
}  // namespace reinit
