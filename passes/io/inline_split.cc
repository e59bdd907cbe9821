#include "passes/io/inline_split.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace reinit {

namespace {

// Field numbers and wire types of the three messages walked (onnx.proto).
constexpr uint32_t kModelGraph = 7, kGraphInitializer = 5, kTensorRawData = 9;
// The TensorProto fields a split tensor may have besides raw_data: dims, data_type, name, doc_string.
// Anything else (typed data next to raw_data, external-data fields, segments, newer fields) keeps the
// tensor whole, so the ordinary checks see it exactly as it is.
bool SplittableField(uint32_t number) { return number == 1 || number == 2 || number == 8 || number == 12; }
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void AppendVarint(uint64_t v, std::string* out) {
  for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
  out->push_back(static_cast<char>(v));
}

uint64_t Tag(uint32_t number, int wire) { return (uint64_t{number} << 3) | static_cast<uint64_t>(wire); }

// Bytes of a file through a 1 MiB window (many small fields, few system calls), or of a string.
class Source {
 public:
  Source(int fd, int64_t size) : fd_(fd), size_(size), window_(1 << 20) {}
  explicit Source(const std::string& bytes)
      : size_(static_cast<int64_t>(bytes.size())), memory_(bytes.data()) {}
  int64_t size() const { return size_; }

  // Appends [offset, offset + n) to out.
  bool Append(int64_t offset, int64_t n, std::string* out) {
    if (offset < 0 || n < 0 || offset + n > size_) return false;
    if (memory_ != nullptr) {
      out->append(memory_ + offset, static_cast<size_t>(n));
      return true;
    }
    while (n > 0) {
      if (!Load(offset)) return false;
      const int64_t take = std::min(n, start_ + length_ - offset);
      out->append(window_.data() + (offset - start_), static_cast<size_t>(take));
      offset += take;
      n -= take;
    }
    return true;
  }

  bool Byte(int64_t offset, uint8_t* b) {
    if (offset < 0 || offset >= size_) return false;
    if (memory_ != nullptr) {
      *b = static_cast<uint8_t>(memory_[offset]);
      return true;
    }
    if (!Load(offset)) return false;
    *b = static_cast<uint8_t>(window_[static_cast<size_t>(offset - start_)]);
    return true;
  }

 private:
  // Makes the window hold `offset`.
  bool Load(int64_t offset) {
    if (offset >= start_ && offset < start_ + length_) return true;
    ssize_t n;
    do {
      n = ::pread(fd_, window_.data(), window_.size(), offset);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    start_ = offset;
    length_ = n;
    return true;
  }

  int fd_ = -1;
  int64_t size_;
  const char* memory_ = nullptr;
  std::vector<char> window_;
  int64_t start_ = 0, length_ = 0;
};

// One field of a message: the tag at `start`, its value at [value, end).
struct Field {
  uint32_t number = 0;
  int wire = 0;
  int64_t start = 0, value = 0, end = 0;
};

bool ReadVarint(Source& s, int64_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!s.Byte((*pos)++, &b)) return false;
    *v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// The field at *pos (which must end by `limit`); advances *pos past it. Groups are not understood.
bool NextField(Source& s, int64_t* pos, int64_t limit, Field* f) {
  f->start = *pos;
  uint64_t tag, v;
  if (!ReadVarint(s, pos, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
  f->number = static_cast<uint32_t>(tag >> 3);
  f->wire = static_cast<int>(tag & 7);
  switch (f->wire) {
    case kVarint:
      f->value = *pos;
      if (!ReadVarint(s, pos, &v)) return false;
      break;
    case kFixed64: f->value = *pos; *pos += 8; break;
    case kFixed32: f->value = *pos; *pos += 4; break;
    case kLengthDelimited:
      if (!ReadVarint(s, pos, &v) || v > static_cast<uint64_t>(limit)) return false;
      f->value = *pos;
      *pos += static_cast<int64_t>(v);
      break;
    default: return false;
  }
  f->end = *pos;
  return *pos <= limit;
}

// Walks the fields of [begin, end): each length-delimited field numbered `number` goes to
// `child(field, &handled)` (false: fail), and every field not handled there to `copy(field)`.
template <typename Child, typename Copy>
bool EachField(Source& s, int64_t begin, int64_t end, uint32_t number, Child child, Copy copy) {
  int64_t pos = begin;
  Field f;
  while (pos < end) {
    if (!NextField(s, &pos, end, &f)) return false;
    bool handled = false;
    if (f.number == number && f.wire == kLengthDelimited && !child(f, &handled)) return false;
    if (!handled && !copy(f)) return false;
  }
  return true;
}

struct Splitter {
  Source& source;
  int64_t threshold;
  std::vector<SplitTensor>* split;
  int next_initializer = 0;

  // A tensor's fields without its raw_data; false if it has no large raw_data or anything that makes
  // leaving it out unsafe (a second raw_data, any field but the plain ones, a field not understood).
  bool Tensor(int64_t begin, int64_t end, std::string* out, SplitTensor* found) {
    int64_t pos = begin;
    int raw_data_fields = 0;
    Field f;
    while (pos < end) {
      if (!NextField(source, &pos, end, &f)) return false;
      if (f.number != kTensorRawData && !SplittableField(f.number)) return false;
      if (f.number == kTensorRawData) {
        if (++raw_data_fields > 1 || f.wire != kLengthDelimited || f.end - f.value < threshold) return false;
        found->offset = f.value;
        found->length = f.end - f.value;
        continue;
      }
      if (!source.Append(f.start, f.end - f.start, out)) return false;
    }
    return raw_data_fields == 1;
  }

  bool Copy(const Field& f, std::string* out) { return source.Append(f.start, f.end - f.start, out); }

  // A split tensor goes in without its raw_data; any other initializer is copied.
  bool Graph(int64_t begin, int64_t end, std::string* out) {
    auto initializer = [&](const Field& f, bool* handled) {
      const int index = next_initializer++;
      std::string tensor;
      SplitTensor found;
      if (f.end - f.value >= threshold && Tensor(f.value, f.end, &tensor, &found)) {
        found.index = index;
        split->push_back(found);
        AppendVarint(Tag(kGraphInitializer, kLengthDelimited), out);
        AppendVarint(tensor.size(), out);
        out->append(tensor);
        *handled = true;
      }
      return true;
    };
    return EachField(source, begin, end, kGraphInitializer, initializer, [&](const Field& f) { return Copy(f, out); });
  }

  bool Model(std::string* out) {
    auto graph = [&](const Field& f, bool* handled) {
      std::string bytes;
      if (!Graph(f.value, f.end, &bytes)) return false;
      AppendVarint(Tag(kModelGraph, kLengthDelimited), out);
      AppendVarint(bytes.size(), out);
      out->append(bytes);
      *handled = true;
      return true;
    };
    return EachField(source, 0, source.size(), kModelGraph, graph, [&](const Field& f) { return Copy(f, out); });
  }
};

// The writer's plan: a message as pieces of bytes and tensors' raw_data, with its total size.
struct Piece {
  std::string bytes;
  int tensor = -1;  // >= 0: raw_data of this initializer, `length` bytes
  int64_t length = 0;
};

struct Pieces {
  std::vector<Piece> list;
  int64_t size = 0;
  void Bytes(const std::string& b) {
    if (list.empty() || list.back().tensor >= 0) list.push_back({});
    list.back().bytes += b;
    size += static_cast<int64_t>(b.size());
  }
  void Tensor(int index, int64_t length) {
    list.push_back({"", index, length});
    size += length;
  }
  void Append(const Pieces& other) {
    for (const auto& p : other.list) {
      if (p.tensor >= 0) Tensor(p.tensor, p.length);
      else Bytes(p.bytes);
    }
  }
  void Header(uint32_t number, int64_t length) {
    std::string h;
    AppendVarint(Tag(number, kLengthDelimited), &h);
    AppendVarint(static_cast<uint64_t>(length), &h);
    Bytes(h);
  }
};

struct Planner {
  Source& source;
  const std::map<int, int64_t>& lengths;
  std::set<int> placed;
  int next_initializer = 0;

  bool Tensor(int index, int64_t begin, int64_t end, Pieces* out) {
    int64_t pos = begin;
    bool inserted = false;
    Field f;
    auto insert = [&] {
      out->Header(kTensorRawData, lengths.at(index));
      out->Tensor(index, lengths.at(index));
      inserted = true;
    };
    while (pos < end) {
      if (!NextField(source, &pos, end, &f) || f.number == kTensorRawData) return false;
      if (f.number > kTensorRawData && !inserted) insert();
      std::string bytes;
      if (!source.Append(f.start, f.end - f.start, &bytes)) return false;
      out->Bytes(bytes);
    }
    if (!inserted) insert();
    return true;
  }

  bool Copy(const Field& f, Pieces* out) {
    std::string bytes;
    if (!source.Append(f.start, f.end - f.start, &bytes)) return false;
    out->Bytes(bytes);
    return true;
  }

  bool Graph(int64_t begin, int64_t end, Pieces* out) {
    auto initializer = [&](const Field& f, bool* handled) {
      const int index = next_initializer++;
      if (!lengths.count(index)) return true;
      Pieces tensor;
      if (!Tensor(index, f.value, f.end, &tensor)) return false;
      placed.insert(index);
      out->Header(kGraphInitializer, tensor.size);
      out->Append(tensor);
      *handled = true;
      return true;
    };
    return EachField(source, begin, end, kGraphInitializer, initializer, [&](const Field& f) { return Copy(f, out); });
  }

  bool Model(Pieces* out) {
    auto graph = [&](const Field& f, bool* handled) {
      Pieces pieces;
      if (!Graph(f.value, f.end, &pieces)) return false;
      out->Header(kModelGraph, pieces.size);
      out->Append(pieces);
      *handled = true;
      return true;
    };
    return EachField(source, 0, source.size(), kModelGraph, graph, [&](const Field& f) { return Copy(f, out); });
  }
};

}  // namespace

bool SplitLargeInitializers(int fd, int64_t size, int64_t threshold, std::string* skeleton,
                            std::vector<SplitTensor>* split) {
  Source source(fd, size);
  Splitter splitter{source, threshold, split, 0};
  skeleton->clear();
  split->clear();
  return splitter.Model(skeleton);
}

Status WriteWithRawData(const std::string& skeleton, const std::map<int, int64_t>& lengths,
                        const std::function<Status(int index, const ByteSink& sink)>& produce, const ByteSink& out) {
  Source source(skeleton);
  Planner planner{source, lengths, {}, 0};
  Pieces plan;
  if (!planner.Model(&plan) || planner.placed.size() != lengths.size()) {
    return {ExitCode::kInternal, "the model's large tensors could not be placed back into it"};
  }
  for (const Piece& piece : plan.list) {
    if (piece.tensor < 0) {
      REINIT_RETURN_IF_ERROR(out.write(piece.bytes.data(), piece.bytes.size()));
      continue;
    }
    // Counted, and never past the tensor's length: a producer that overruns is stopped, not trusted.
    int64_t written = 0;
    auto fits = [&](size_t n) { return written + static_cast<int64_t>(n) <= piece.length; };
    ByteSink counted;
    counted.write = [&](const char* data, size_t n) -> Status {
      if (!fits(n)) return {ExitCode::kInternal, "initializer " + std::to_string(piece.tensor) + ": too many bytes"};
      written += static_cast<int64_t>(n);
      return out.write(data, n);
    };
    if (out.room) {
      counted.room = [&](size_t want, size_t* got) {
        return out.room(std::min<size_t>(want, static_cast<size_t>(piece.length - written)), got);
      };
      counted.produced = [&](size_t n) -> Status {
        if (!fits(n)) return {ExitCode::kInternal, "initializer " + std::to_string(piece.tensor) + ": too many bytes"};
        written += static_cast<int64_t>(n);
        return out.produced(n);
      };
    }
    REINIT_RETURN_IF_ERROR(produce(piece.tensor, counted));
    if (written != piece.length) {
      return {ExitCode::kInternal, "initializer " + std::to_string(piece.tensor) + ": produced " +
                                       std::to_string(written) + " bytes, not " + std::to_string(piece.length)};
    }
  }
  return Status::Ok();
}

}  // namespace reinit
