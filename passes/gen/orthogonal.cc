#include "passes/gen/orthogonal.h"

namespace reinit {

namespace sse2 {
void OrthonormalizeColumns(double* a, int64_t rows, int64_t cols, unsigned threads);
}
namespace avx2 {
void OrthonormalizeColumns(double* a, int64_t rows, int64_t cols, unsigned threads);
}

namespace {
bool HasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
const bool kAvx2Fma = HasAvx2Fma();
}  // namespace

void OrthonormalizeColumns(double* a, int64_t rows, int64_t cols, unsigned threads) {
  (kAvx2Fma ? avx2::OrthonormalizeColumns : sse2::OrthonormalizeColumns)(a, rows, cols, threads);
}

void OrthonormalizeColumnsBaseline(double* a, int64_t rows, int64_t cols, unsigned threads) {
  sse2::OrthonormalizeColumns(a, rows, cols, threads);
}

}  // namespace reinit
