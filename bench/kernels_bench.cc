// Google Benchmark micro benchmarks of the generation kernels, fills per scheme and dtype, and the
// orthogonal QR. Run: cmake -B build -DREINIT_BENCH=ON && cmake --build build -j2 && build/bench/reinit_bench
#include <benchmark/benchmark.h>

#include <Eigen/Dense>

#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/gen/fill.h"
#include "passes/gen/kernels.h"
#include "passes/gen/orthogonal.h"
#include "passes/gen/rng.h"
#include "passes/gen/schemes.h"

namespace reinit {
namespace {

constexpr size_t kN = size_t{1} << 24;  // 16M float32 = 64 MB

void BM_Generate(benchmark::State& state, Draw draw) {
  std::vector<float> out(kN);
  const TensorRng rng(1, "bench");
  for (auto _ : state) {
    GenerateF32(rng, draw, 0.1f, 0, out.size(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK_CAPTURE(BM_Generate, uniform_f32, Draw::kUniform)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Generate, normal_f32, Draw::kNormal)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Generate, truncated_normal_f32, Draw::kTruncatedNormal)->Unit(benchmark::kMillisecond);

// A whole float32/float16 tensor through FillTensor (storage writes and stats included), by threads.
void BM_FillTensor(benchmark::State& state, int32_t dtype, Scheme scheme) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(dtype);
  t.add_dims(static_cast<int64_t>(kN));
  t.set_raw_data(std::string(kN * (dtype == onnx::TensorProto::FLOAT ? 4 : 2), '\0'));
  ParamRow row;
  row.name = "w";
  row.tensor = &t;
  row.shape = {static_cast<int64_t>(kN)};
  row.init.scheme = scheme;
  row.init.std = 0.05;
  if (scheme == Scheme::kXavier) row.init.bound = 0.2;
  row.init.distribution = scheme == Scheme::kXavier ? Distribution::kUniform : Distribution::kNormal;
  const unsigned threads = static_cast<unsigned>(state.range(0));
  TensorStats stats;
  for (auto _ : state) {
    FillTensor(row, 1, threads, &stats);
    benchmark::DoNotOptimize(t.raw_data().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kN));
}
BENCHMARK_CAPTURE(BM_FillTensor, normal_f32, onnx::TensorProto::FLOAT, Scheme::kHe)
    ->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FillTensor, uniform_f32, onnx::TensorProto::FLOAT, Scheme::kXavier)
    ->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FillTensor, normal_f16, onnx::TensorProto::FLOAT16, Scheme::kHe)
    ->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FillTensor, normal_bf16, onnx::TensorProto::BFLOAT16, Scheme::kHe)
    ->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// The scalar double-precision path (fp64 tensors; the baseline the vectorized kernel replaced).
void BM_ScalarNormalF64(benchmark::State& state) {
  std::vector<double> out(size_t{1} << 20);
  const TensorRng rng(1, "bench");
  for (auto _ : state) {
    rng.Normal(0, out.size(), 0.1, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_ScalarNormalF64)->Unit(benchmark::kMillisecond);

// n x n orthogonal init (Gaussian draw, blocked Householder QR, Q formed): threads 1 and 2, and the
// baseline (SSE2) build for comparison. Orthogonality error max|Q^T Q - I| as a counter.
void BM_Orthogonal(benchmark::State& state) {
  const int64_t n = state.range(0);
  const unsigned threads = static_cast<unsigned>(state.range(1));
  std::vector<double> out(static_cast<size_t>(n * n));
  for (auto _ : state) {
    FillOrthogonal(1, "bench", 0, n, n, 1.0, out.data(), threads);
    benchmark::DoNotOptimize(out.data());
  }
  const Eigen::Map<const Eigen::MatrixXd> q(out.data(), n, n);
  state.counters["orth_err"] = (q.transpose() * q - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff();
}
BENCHMARK(BM_Orthogonal)
    ->Args({256, 2})
    ->Args({1024, 2})
    ->Args({2048, 1})
    ->Args({2048, 2})
    ->Args({4096, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_OrthogonalBaselineQr(benchmark::State& state) {
  const int64_t n = state.range(0);
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(n, n);
  for (auto _ : state) {
    Eigen::MatrixXd q = a;
    OrthonormalizeColumnsBaseline(q.data(), n, n, 2);
    benchmark::DoNotOptimize(q.data());
  }
}
BENCHMARK(BM_OrthogonalBaselineQr)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace reinit
