#include "passes/gen/fill.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "onnx/onnx_pb.h"
#include "passes/gen/kernels.h"
#include "passes/gen/parallel.h"
#include "passes/gen/schemes.h"
#include "passes/graph/tensor_values.h"

namespace reinit {

namespace {

// Tensors smaller than this are not worth a thread.
constexpr size_t kParallelThreshold = size_t{1} << 16;



// Generates chunks [first_chunk, last_chunk) of the tensor into its storage, recording per-chunk stats.
// float16 kept in int32_data (one value per int32) goes through a buffer and is widened.
// `out` holds the elements from chunk `base_chunk` on.
void FillChunks(const TensorRng& rng, Draw draw, float scale, Storage storage, void* out, bool int32_storage,
                uint64_t n, uint64_t first_chunk, uint64_t last_chunk, uint64_t base_chunk, ChunkStats* stats) {
  const size_t width = storage == Storage::kFloat32 ? 4 : 2;
  alignas(64) uint16_t bits[kChunk];
  for (uint64_t c = first_chunk; c < last_chunk; ++c) {
    const uint64_t begin = c * kChunk, at = (c - base_chunk) * kChunk;
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, n - begin));
    if (!int32_storage) {
      FillChunk(rng, draw, scale, c, storage, len, static_cast<char*>(out) + at * width, &stats[c]);
      continue;
    }
    FillChunk(rng, draw, scale, c, storage, len, bits, &stats[c]);
    std::copy(bits, bits + len, static_cast<int32_t*>(out) + at);
  }
}

// What FillChunk needs to know about a row.
struct Draws {
  TensorRng rng;
  Draw draw;
  float scale;
  Storage storage;
  size_t width;
};

Draws DrawsOf(const ParamRow& row, uint64_t seed) {
  const int32_t dtype = row.tensor->data_type();
  return {TensorRng(seed, row.name),
          row.init.bound                                              ? Draw::kUniform
          : row.init.distribution == Distribution::kTruncatedNormal ? Draw::kTruncatedNormal
                                                                 : Draw::kNormal,
          static_cast<float>(row.init.bound ? *row.init.bound : row.init.std),
          dtype == onnx::TensorProto::FLOAT     ? Storage::kFloat32
          : dtype == onnx::TensorProto::FLOAT16 ? Storage::kFloat16
                                                : Storage::kBFloat16,
          dtype == onnx::TensorProto::FLOAT ? size_t{4} : size_t{2}};
}

// Chunks [first, last) of an n-element tensor into `out` (which starts at chunk `first`), split
// between up to `threads` threads (0: one per core).
void RunChunks(const Draws& d, void* out, bool int32_storage, uint64_t n, uint64_t first, uint64_t last,
               unsigned threads, ChunkStats* stats) {
  const uint64_t chunks = last - first;
  unsigned workers = chunks * kChunk < kParallelThreshold ? 1u : ThreadCount(threads);
  workers = static_cast<unsigned>(std::min<uint64_t>(workers, chunks));
  // One contiguous range of chunks per worker.
  struct Ranges {
    const Draws& d;
    void* out;
    bool int32_storage;
    uint64_t n, first, chunks, workers;
    ChunkStats* stats;
    static void Run(void* ctx, int64_t w) {
      const Ranges& r = *static_cast<const Ranges*>(ctx);
      const uint64_t k = static_cast<uint64_t>(w);
      FillChunks(r.d.rng, r.d.draw, r.d.scale, r.d.storage, r.out, r.int32_storage, r.n,
                 r.first + r.chunks * k / r.workers, r.first + r.chunks * (k + 1) / r.workers, r.first, r.stats);
    }
  } ranges{d, out, int32_storage, n, first, chunks, workers, stats};
  ParallelFor(workers, workers, &Ranges::Run, &ranges);
}

// Combined in chunk order: the same numbers whatever the number of threads or pieces.
TensorStats Combine(const std::vector<ChunkStats>& chunk_stats, uint64_t n) {
  double sum = 0, sum_sq = 0;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (const auto& s : chunk_stats) {
    sum += s.sum;
    sum_sq += s.sum_sq;
    lo = std::min(lo, s.min);
    hi = std::max(hi, s.max);
  }
  TensorStats stats;
  stats.mean = sum / n;
  stats.std = std::sqrt(std::max(0.0, sum_sq / n - stats.mean * stats.mean));
  stats.min = lo;
  stats.max = hi;
  return stats;
}

// Every generated tensor is checked before it is written: a non-finite value (a sum, min or max that is
// not finite) is a bug in the decision or the generator, never something to write.
Status CheckFinite(const ParamRow& row, const TensorStats& s) {
  if (std::isfinite(s.mean) && std::isfinite(s.std) && std::isfinite(s.min) && std::isfinite(s.max)) return Status::Ok();
  return {ExitCode::kInternal, "tensor '" + row.name + "': generated values are not finite (" + row.init.reason + ")"};
}

// Preset proxy, a block of elements at a time (one thread: the bytes never depend on --threads): the
// stored bytes of elements [first, first + n) and their stats, added to `sums`.
constexpr size_t kProxyBlock = size_t{1} << 16;

struct Sums {
  double sum = 0, sum_sq = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  uint64_t n = 0;
  TensorStats Stats() const {
    if (n == 0) return {};
    const double mean = sum / n;
    return {mean, std::sqrt(std::max(0.0, sum_sq / n - mean * mean)), lo, hi};
  }
};

Status ProxyBlock(const ParamRow& row, uint64_t seed, uint64_t first, size_t n, std::string* bytes, Sums* sums) {
  std::vector<double> v(n);
  ProxyValues(row, seed, first, n, v.data());
  onnx::TensorProto block;
  block.set_name(row.tensor->name());
  block.set_data_type(row.tensor->data_type());
  block.add_dims(static_cast<int64_t>(n));
  block.set_raw_data(std::string(n * FloatByteWidth(row.tensor->data_type()), '\0'));
  REINIT_RETURN_IF_ERROR(WriteValues(v, &block));
  REINIT_RETURN_IF_ERROR(ReadValues(block, &v));  // the stats of what is stored, after rounding
  for (double x : v) {
    sums->sum += x;
    sums->sum_sq += x * x;
    sums->lo = std::min(sums->lo, x);
    sums->hi = std::max(sums->hi, x);
  }
  sums->n += n;
  *bytes = std::move(*block.mutable_raw_data());
  return Status::Ok();
}

// Every block of a proxy row, handed to `put(first element, bytes)`.
template <typename Put>
Status ProxyBlocks(const ParamRow& row, uint64_t seed, Put put, TensorStats* stats) {
  int64_t count = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(*row.tensor, &count));
  const uint64_t n = static_cast<uint64_t>(count);
  Sums sums;
  std::string bytes;
  for (uint64_t first = 0; first < n; first += kProxyBlock) {
    REINIT_RETURN_IF_ERROR(ProxyBlock(row, seed, first, static_cast<size_t>(std::min<uint64_t>(kProxyBlock, n - first)), &bytes, &sums));
    REINIT_RETURN_IF_ERROR(put(first, bytes));
  }
  *stats = sums.Stats();
  return Status::Ok();
}

}  // namespace

bool FillsByChunks(const ParamRow& row) {
  const bool random = row.init.scheme == Scheme::kXavier || row.init.scheme == Scheme::kHe || row.init.scheme == Scheme::kLeCun ||
                      row.init.scheme == Scheme::kNormal || row.init.scheme == Scheme::kUniform ||
                      row.init.scheme == Scheme::kProxy;
  const int32_t t = row.tensor->data_type();
  // A piece of a tensor is generated with the rest of it (passes/regenerate.cc), in memory.
  // So is a tensor with copies (its values are written to them as soon as they exist).
  return random && row.piece.empty() && !row.copy.has_copies && (t == onnx::TensorProto::FLOAT || t == onnx::TensorProto::FLOAT16 || t == onnx::TensorProto::BFLOAT16);
}

Status FillPieces(const ParamRow& row, uint64_t seed, unsigned threads, const ByteSink& sink, TensorStats* stats) {
  if (!FillsByChunks(row)) return {ExitCode::kInternal, "tensor '" + row.name + "': cannot be generated piece by piece"};
  if (row.init.scheme == Scheme::kProxy) {
    REINIT_RETURN_IF_ERROR(ProxyBlocks(row, seed, [&](uint64_t, const std::string& bytes) {
      return sink.write(bytes.data(), bytes.size());
    }, stats));
    return CheckFinite(row, *stats);
  }
  int64_t count = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(*row.tensor, &count));
  const uint64_t n = static_cast<uint64_t>(count);
  const Draws d = DrawsOf(row, seed);
  const uint64_t chunks = (n + kChunk - 1) / kChunk;
  const size_t chunk_bytes = kChunk * d.width;
  std::vector<ChunkStats> chunk_stats(chunks);
  std::vector<char> scratch;
  for (uint64_t c = 0; c < chunks;) {
    const size_t left = static_cast<size_t>((n - c * kChunk) * d.width);
    size_t got = 0;
    char* room = sink.room ? sink.room(left, &got) : nullptr;
    // Whole chunks that fit the room (the last, short chunk counts for its own length).
    uint64_t take = got >= left ? chunks - c : got / chunk_bytes;
    if (take > 0) {
      RunChunks(d, room, false, n, c, c + take, threads, chunk_stats.data());
      REINIT_RETURN_IF_ERROR(sink.produced(std::min(left, static_cast<size_t>(take) * chunk_bytes)));
    } else {
      // Less room than a chunk (or none to lend): one chunk through a buffer.
      take = 1;
      scratch.resize(chunk_bytes);
      RunChunks(d, scratch.data(), false, n, c, c + 1, 1, chunk_stats.data());
      REINIT_RETURN_IF_ERROR(sink.write(scratch.data(), std::min(left, chunk_bytes)));
    }
    c += take;
  }
  *stats = n == 0 ? TensorStats{} : Combine(chunk_stats, n);
  return CheckFinite(row, *stats);
}

Status FillTensor(const ParamRow& row, uint64_t seed, unsigned threads, TensorStats* stats) {
  onnx::TensorProto* t = row.tensor;
  // A proxy in raw_data is generated a block at a time into it; in a typed field, through doubles.
  if (row.init.scheme == Scheme::kProxy && FillsByChunks(row) && t->has_raw_data()) {
    const size_t width = FloatByteWidth(t->data_type());
    int64_t count = 0;
    REINIT_RETURN_IF_ERROR(ElementCount(*t, &count));
    if (t->raw_data().size() != static_cast<uint64_t>(count) * width) {
      return {ExitCode::kBadModel, "tensor '" + t->name() + "': raw_data has " + std::to_string(t->raw_data().size()) +
                                       " bytes, the shape needs " + std::to_string(count * width)};
    }
    char* raw = t->mutable_raw_data()->data();
    REINIT_RETURN_IF_ERROR(ProxyBlocks(row, seed, [&](uint64_t first, const std::string& bytes) {
      std::memcpy(raw + first * width, bytes.data(), bytes.size());
      return Status::Ok();
    }, stats));
    return CheckFinite(row, *stats);
  }
  if (!FillsByChunks(row) || row.init.scheme == Scheme::kProxy) {
    std::vector<double> values;
    REINIT_RETURN_IF_ERROR(GenerateValues(row, seed, threads, &values));
    REINIT_RETURN_IF_ERROR(WriteValues(values, t));
    // Measure the tensor as stored (after rounding), not the doubles we meant to write.
    REINIT_RETURN_IF_ERROR(ReadValues(*t, &values));
    *stats = Measure(values);
    return CheckFinite(row, *stats);
  }
  int64_t count = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(*t, &count));
  if (count == 0) return Status::Ok();
  // The storage must hold exactly the shape's elements before anything is written into it.
  const uint64_t n = static_cast<uint64_t>(count);
  const int32_t dtype = t->data_type();
  void* storage = nullptr;
  bool int32_storage = false;
  const size_t width = dtype == onnx::TensorProto::FLOAT ? 4 : 2;
  if (t->has_raw_data()) {
    if (t->raw_data().size() != n * width) {
      return {ExitCode::kBadModel, "tensor '" + t->name() + "': raw_data has " + std::to_string(t->raw_data().size()) +
                                       " bytes, the shape needs " + std::to_string(n * width)};
    }
    storage = t->mutable_raw_data()->data();
  } else if (dtype == onnx::TensorProto::FLOAT) {
    if (static_cast<uint64_t>(t->float_data_size()) != n) {
      return {ExitCode::kBadModel, "tensor '" + t->name() + "': holds " + std::to_string(t->float_data_size()) +
                                       " values, the shape needs " + std::to_string(n)};
    }
    storage = t->mutable_float_data()->mutable_data();
  } else {
    if (static_cast<uint64_t>(t->int32_data_size()) != n) {
      return {ExitCode::kBadModel, "tensor '" + t->name() + "': holds " + std::to_string(t->int32_data_size()) +
                                       " values, the shape needs " + std::to_string(n)};
    }
    storage = t->mutable_int32_data()->mutable_data();
    int32_storage = true;
  }
  const Draws d = DrawsOf(row, seed);
  const uint64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<ChunkStats> chunk_stats(chunks);
  RunChunks(d, storage, int32_storage, n, 0, chunks, threads, chunk_stats.data());
  *stats = Combine(chunk_stats, n);
  return CheckFinite(row, *stats);
}

}  // namespace reinit
