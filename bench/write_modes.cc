// How fast can this machine's disk take 500 MB of random bytes from user space, by write mode? What
// chose how rewrite's writer issues its writes, measured without the tool: O_DIRECT or buffered, the
// size of each write(2), and how many pwrite calls are in flight at once (threads writing disjoint
// chunks), each run ending with fsync.
//
//   g++ -O2 -pthread bench/write_modes.cc -o write_modes
//   ./write_modes DIR MODE CHUNK_KIB THREADS      # MODE: direct | buffered
//
// Compare with `cp` + `sync` of a 500 MB file and with `onnx-reinit rewrite` of one, alternating runs
// in one session (docs/performance.md).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: write_modes DIR direct|buffered CHUNK_KIB THREADS\n");
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/write_modes.bin";
  const bool direct = std::string(argv[2]) == "direct";
  const size_t total = size_t{500} << 20, chunk = static_cast<size_t>(std::atol(argv[3])) << 10;
  const int threads = std::atoi(argv[4]);
  std::vector<char*> buffers(threads);
  std::mt19937_64 random(1);
  for (char*& b : buffers) {
    if (posix_memalign(reinterpret_cast<void**>(&b), 4096, chunk) != 0) return 1;
    for (size_t i = 0; i < chunk; i += 8) *reinterpret_cast<uint64_t*>(b + i) = random();
  }
  const auto start = std::chrono::steady_clock::now();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
  if (fd < 0) return std::perror("open"), 1;
  std::atomic<size_t> next{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (size_t at; (at = next.fetch_add(chunk)) < total;) {
        if (::pwrite(fd, buffers[t], chunk, static_cast<off_t>(at)) != static_cast<ssize_t>(chunk)) std::exit(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  ::fsync(fd);
  ::close(fd);
  std::printf("%s %zu KiB x %d in flight: %.3f s\n", argv[2], chunk >> 10, threads,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  ::unlink(path.c_str());
  for (char* b : buffers) std::free(b);
}
