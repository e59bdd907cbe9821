// regenerate: what is written, and what is not.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <optional>

#include "passes/gen/fill.h"
#include "passes/io/model_io.h"
#include "passes/report/version.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

using onnx::TensorProto;

// A 256 -> 512 dense layer with ReLU, a bias, an int64 shape tensor and a float tensor of unknown role.
onnx::ModelProto Model(int32_t dtype = TensorProto::FLOAT, test::Storage storage = test::Storage::kRaw) {
  const std::string t = dtype == TensorProto::FLOAT16 ? "float16" : dtype == TensorProto::BFLOAT16 ? "bfloat16"
                        : dtype == TensorProto::DOUBLE ? "double" : "float";
  auto m = test::ParseModel("<ir_version: 8, opset_import: [\"\" : 14]>\n g (" + t + "[2,256] X) => (" + t +
                            "[1,1024] Y) {\n H = Gemm <transB = 1> (X, W, B)\n R = Relu(H)\n M = Mul(R, K)\n"
                            " Y = Reshape(M, S)\n}");
  test::AddInitializer(m, "W", {512, 256}, dtype, storage);
  test::AddInitializer(m, "B", {512}, dtype, storage);
  test::AddInitializer(m, "K", {512}, dtype, storage);  // Mul by a per-feature scale: unknown role
  auto* s = m.mutable_graph()->add_initializer();
  s->set_name("S");
  s->set_data_type(TensorProto::INT64);
  s->add_dims(2);
  s->add_int64_data(1);
  s->add_int64_data(1024);
  return m;
}

const TensorProto& Init(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer()) {
    if (t.name() == name) return t;
  }
  throw std::runtime_error("no initializer " + name);
}

TEST(Regenerate, HeUniformValuesHaveTheTargetSpread) {
  auto run = test::Rewrite(Model());
  const ParamRow& w = run->Row("W");
  const std::vector<double> v = test::Values(Init(run->model, "W"));
  const double b = *w.init.bound, n = static_cast<double>(v.size());
  EXPECT_NEAR(b, std::sqrt(6.0 / 256), 1e-12);
  double sum = 0, sq = 0;
  for (double x : v) {
    ASSERT_LE(std::fabs(x), b);
    sum += x;
    sq += x * x;
  }
  const double var = b * b / 3;
  EXPECT_NEAR(sum / n, 0, 6 * std::sqrt(var / n));
  EXPECT_NEAR(sq / n, var, 6 * std::sqrt((b * b * b * b / 5 - var * var) / n));
  ASSERT_TRUE(w.stats.has_value());
  EXPECT_NEAR(w.stats->std, std::sqrt(var), 6 * std::sqrt((b * b * b * b / 5 - var * var) / n) / (2 * std::sqrt(var)));
  EXPECT_DOUBLE_EQ(w.stats->max, *std::max_element(v.begin(), v.end()));
}

TEST(Regenerate, BiasBecomesZeros) {
  auto run = test::Rewrite(Model());
  for (double x : test::Values(Init(run->model, "B"))) ASSERT_EQ(x, 0.0);
}

TEST(Regenerate, TensorsThatAreNotParametersStayBitIdentical) {
  const onnx::ModelProto before = Model();
  auto run = test::Rewrite(before);
  EXPECT_EQ(Init(run->model, "K").SerializeAsString(), Init(before, "K").SerializeAsString());
  EXPECT_EQ(Init(run->model, "S").SerializeAsString(), Init(before, "S").SerializeAsString());
  EXPECT_NE(Init(run->model, "W").raw_data(), Init(before, "W").raw_data());
  // Graph structure, names and attributes are untouched: only initializer contents differ.
  onnx::GraphProto a = before.graph(), b = run->model.graph();
  a.clear_initializer();
  b.clear_initializer();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

TEST(Regenerate, SameSeedSameBytesOtherSeedOtherBytes) {
  Policy p;
  p.seed = 11;
  auto a = test::Rewrite(Model(), p);
  auto b = test::Rewrite(Model(), p);
  p.seed = 12;
  auto c = test::Rewrite(Model(), p);
  EXPECT_EQ(a->model.SerializeAsString(), b->model.SerializeAsString());
  EXPECT_NE(Init(a->model, "W").raw_data(), Init(c->model, "W").raw_data());
}

TEST(Regenerate, RewrittenModelPassesTheCheckerWithShapeInference) {
  auto run = test::Rewrite(Model());
  Status s = CheckModel(run->model, "rewritten");
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(Regenerate, RecordsTheRunInOneMetadataEntry) {
  Policy p;
  p.seed = 5;
  auto first = test::Rewrite(Model(), p);
  auto again = test::Rewrite(first->model, p);  // re-running replaces the entry, never adds a second
  int entries = 0;
  for (const auto& e : again->model.metadata_props()) {
    if (e.key() != kMetadataKey) continue;
    ++entries;
    EXPECT_NE(e.value().find("\"seed\":5"), std::string::npos) << e.value();
    EXPECT_NE(e.value().find("\"policy\":{\"name\":\"note\""), std::string::npos) << e.value();
  }
  EXPECT_EQ(entries, 1);
}

class Dtypes : public ::testing::TestWithParam<std::tuple<int32_t, test::Storage>> {};

TEST_P(Dtypes, KeepTheirTypeAndStorageField) {
  const auto [dtype, storage] = GetParam();
  auto run = test::Rewrite(Model(dtype, storage));
  const TensorProto& w = Init(run->model, "W");
  EXPECT_EQ(w.data_type(), dtype);
  EXPECT_EQ(w.has_raw_data(), storage == test::Storage::kRaw);
  const double b = *run->Row("W").init.bound;
  const std::vector<double> v = test::Values(w);
  // Rounding to the type may land exactly on the bound, never beyond it by more than one ulp.
  const double ulp = dtype == TensorProto::BFLOAT16 ? 1.0 / 256 : dtype == TensorProto::FLOAT16 ? 1.0 / 2048 : 1e-7;
  for (double x : v) ASSERT_LE(std::fabs(x), b * (1 + ulp));
  EXPECT_GT(run->Row("W").stats->std, 0.9 * b / std::sqrt(3.0));
  Status s = CheckModel(run->model, "rewritten");
  EXPECT_TRUE(s.ok()) << s.message();
}

INSTANTIATE_TEST_SUITE_P(FloatTypes, Dtypes,
                         ::testing::Combine(::testing::Values(TensorProto::FLOAT, TensorProto::DOUBLE,
                                                              TensorProto::FLOAT16, TensorProto::BFLOAT16),
                                            ::testing::Values(test::Storage::kRaw, test::Storage::kTyped)),
                         [](const auto& info) {
                           return test::TypeStorageName(std::get<0>(info.param), std::get<1>(info.param));
                         });

TEST(Regenerate, ThreadCountNeverChangesBytesOrStats) {
  // 512 x 256 = 131072 elements: above the threshold where a tensor is split across threads.
  std::string reference;
  std::optional<TensorStats> reference_stats;
  for (unsigned threads : {1u, 2u, 3u, 7u}) {
    auto run = std::make_unique<test::Run>(Model());
    run->ctx.threads = threads;
    ASSERT_TRUE(run->pipeline.Run(RewritePipeline()).ok());
    const std::string bytes = Init(run->model, "W").raw_data();
    const TensorStats st = *run->Row("W").stats;
    if (reference.empty()) {
      reference = bytes;
      reference_stats = st;
      continue;
    }
    EXPECT_EQ(bytes, reference) << threads << " threads";
    EXPECT_EQ(st.mean, reference_stats->mean) << threads;
    EXPECT_EQ(st.std, reference_stats->std) << threads;
  }
}

TEST(Regenerate, RecurrentRIsOrthogonalPerGateBlockAndDirection) {
  const int64_t H = 8, I = 5, G = 4;
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[3,1,5] X) => (float[3,2,1,8] Y) {
      Y = LSTM <hidden_size = 8, direction = "bidirectional"> (X, W, R, B)
    })");
  test::AddInitializer(m, "W", {2, G * H, I});
  test::AddInitializer(m, "R", {2, G * H, H});
  test::AddInitializer(m, "B", {2, 2 * G * H});
  auto run = test::Rewrite(std::move(m));
  const std::vector<double> r = test::Values(Init(run->model, "R"));
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (int64_t block = 0; block < 2 * G; ++block) {
    Eigen::Map<const RowMatrix> q(r.data() + block * H * H, H, H);
    // float32 storage: orthogonal to float precision.
    EXPECT_LT((q.transpose() * q - Eigen::MatrixXd::Identity(H, H)).cwiseAbs().maxCoeff(), 1e-6) << block;
  }
  // Two different blocks are different matrices.
  EXPECT_NE(r[0], r[H * H]);
  // Orthonormal rows of length H: the mean square of the entries is exactly 1/H.
  const TensorStats& st = *run->Row("R").stats;
  EXPECT_NEAR(st.mean * st.mean + st.std * st.std, 1.0 / H, 1e-6);
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// The last line of defence: whatever the decision, a tensor that is not finite is never written.
TEST(Regenerate, ANonFiniteTensorIsAnInternalErrorNamingIt) {
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,3] Y) { Y = MatMul(X, W) })");
  test::AddInitializer(m, "W", {4, 3});
  for (Scheme scheme : {Scheme::kNormal, Scheme::kConstant}) {
    auto run = test::Plan(m);
    ParamRow row = run->Row("W");
    row.init.scheme = scheme;
    row.init.std = std::numeric_limits<double>::infinity();
    row.init.constant = std::numeric_limits<double>::infinity();
    row.init.bound.reset();
    TensorStats stats;
    Status s = FillTensor(row, 0, 1, &stats);
    EXPECT_EQ(s.code(), ExitCode::kInternal) << NameOf(scheme);
    EXPECT_EQ(s.message().rfind("tensor 'W': generated values are not finite", 0), 0u) << s.message();
  }
}

}  // namespace
}  // namespace reinit
