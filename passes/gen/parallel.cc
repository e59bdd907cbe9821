#include "passes/gen/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace reinit {

unsigned ThreadCount(unsigned threads) { return threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency()); }

void ParallelFor(int64_t tasks, unsigned threads, void (*fn)(void* ctx, int64_t task), void* ctx) {
  const int64_t workers = std::min<int64_t>(tasks, ThreadCount(threads));
  if (workers <= 1) {
    for (int64_t i = 0; i < tasks; ++i) fn(ctx, i);
    return;
  }
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < tasks; i = next++) fn(ctx, i);
  };
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace reinit
