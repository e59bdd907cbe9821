#include "passes/io/inline_split.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <set>

#include "passes/graph/graph_index.h"

namespace reinit {

namespace {

// Field numbers of the messages walked (onnx.proto).
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphNode = 1, kGraphInitializer = 5;
constexpr uint32_t kNodeAttribute = 5;
constexpr uint32_t kAttributeT = 5, kAttributeG = 6, kAttributeTensors = 10, kAttributeGraphs = 11;
constexpr uint32_t kTensorDims = 1, kTensorDataType = 2, kTensorName = 8, kTensorRawData = 9, kTensorDocString = 12;
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;
// Message levels walked: a subgraph is three below its graph (node, attribute, graph). Anything deeper
// (deeper than the passes index, kMaxGraphDepth) is copied as it is.
constexpr int kMaxDepth = 3 * kMaxGraphDepth + 2;

void AppendVarint(uint64_t v, std::string* out) {
  for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
  out->push_back(static_cast<char>(v));
}

uint64_t Tag(uint32_t number, int wire) { return (uint64_t{number} << 3) | static_cast<uint64_t>(wire); }

// The messages walked, and which of their fields hold the messages walked below them.
enum class Kind { kModel, kGraph, kNode, kAttribute, kTensor };

struct Child {
  Kind kind;
  bool repeated;
  const char* name;
};

std::optional<Child> ChildOf(Kind parent, uint32_t number) {
  switch (parent) {
    case Kind::kModel:
      if (number == kModelGraph) return Child{Kind::kGraph, false, "graph"};
      break;
    case Kind::kGraph:
      if (number == kGraphNode) return Child{Kind::kNode, true, "node"};
      if (number == kGraphInitializer) return Child{Kind::kTensor, true, "initializer"};
      break;
    case Kind::kNode:
      if (number == kNodeAttribute) return Child{Kind::kAttribute, true, "attribute"};
      break;
    case Kind::kAttribute:
      if (number == kAttributeT) return Child{Kind::kTensor, false, "t"};
      if (number == kAttributeG) return Child{Kind::kGraph, false, "g"};
      if (number == kAttributeTensors) return Child{Kind::kTensor, true, "tensors"};
      if (number == kAttributeGraphs) return Child{Kind::kGraph, true, "graphs"};
      break;
    case Kind::kTensor: break;
  }
  return std::nullopt;
}

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

// A message as it is to be written: ranges of its source copied as they are, new bytes (the headers of
// fields whose length changed), and raw_data to insert (the writer's); with its total size.
struct Piece {
  enum What { kCopy, kBytes, kTensor } what = kCopy;
  int64_t offset = 0, length = 0;  // kCopy: the range of the source; kTensor: the raw_data's length
  std::string bytes;               // kBytes
  const TensorPath* tensor = nullptr;
};

struct Pieces {
  std::vector<Piece> list;
  int64_t size = 0;
  void Copy(int64_t offset, int64_t length) {
    if (length == 0) return;
    if (!list.empty() && list.back().what == Piece::kCopy && list.back().offset + list.back().length == offset) {
      list.back().length += length;
    } else {
      list.push_back({Piece::kCopy, offset, length, {}, nullptr});
    }
    size += length;
  }
  void Bytes(const std::string& b) {
    if (list.empty() || list.back().what != Piece::kBytes) list.push_back({Piece::kBytes, 0, 0, {}, nullptr});
    list.back().bytes += b;
    size += static_cast<int64_t>(b.size());
  }
  void Tensor(const TensorPath* path, int64_t length) {
    list.push_back({Piece::kTensor, 0, length, {}, path});
    size += length;
  }
  void Header(uint32_t number, int64_t length) {
    std::string h;
    AppendVarint(Tag(number, kLengthDelimited), &h);
    AppendVarint(static_cast<uint64_t>(length), &h);
    Bytes(h);
  }
  void Append(const Pieces& other) {
    for (const Piece& p : other.list) {
      if (p.what == Piece::kCopy) Copy(p.offset, p.length);
      else if (p.what == Piece::kBytes) Bytes(p.bytes);
      else Tensor(p.tensor, p.length);
    }
  }
};

// The walk shared by the splitter (over the file) and the writer (over the serialized skeleton): the
// model's messages down to its tensors, each field copied as it is unless a tensor below it changed,
// in which case the field is rebuilt with its new length.
class Walk {
 public:
  explicit Walk(Source& source) : source_(source) {}
  virtual ~Walk() = default;

  bool Model(Pieces* out) { return Message(Kind::kModel, 0, source_.size(), 0, out); }

 protected:
  // A tensor field at path_: 0 to copy it as it is, 1 with its new fields in `out` (counted in
  // changes_), -1 to give up the whole walk.
  virtual int Tensor(const Field& f, Pieces* out) = 0;
  // Whether a message at path_ can hold a tensor of interest.
  virtual bool Enter() const { return true; }

  Source& source_;
  TensorPath path_;
  size_t changes_ = 0;

 private:
  bool Message(Kind kind, int64_t begin, int64_t end, int depth, Pieces* out) {
    std::array<int, kAttributeGraphs + 1> count{};  // elements seen so far of each field walked into
    int64_t pos = begin;
    Field f;
    while (pos < end) {
      if (!NextField(source_, &pos, end, &f)) return false;
      const std::optional<Child> child = f.wire == kLengthDelimited ? ChildOf(kind, f.number) : std::nullopt;
      if (!child) {
        out->Copy(f.start, f.end - f.start);
        continue;
      }
      const int index = count[f.number]++;
      if (!child->repeated && index > 0) return false;  // protobuf would merge the two
      path_.emplace_back(f.number, index);
      const size_t before = changes_;
      Pieces inner;
      bool ok = true;
      if (child->kind == Kind::kTensor) {
        const int r = Tensor(f, &inner);
        ok = r >= 0;
      } else if (depth < kMaxDepth && Enter()) {
        ok = Message(child->kind, f.value, f.end, depth + 1, &inner);
      }
      path_.pop_back();
      if (!ok) return false;
      if (changes_ == before) {
        out->Copy(f.start, f.end - f.start);
      } else {
        out->Header(f.number, inner.size);
        out->Append(inner);
      }
    }
    return true;
  }
};

// The TensorProto fields a split tensor may have besides raw_data: dims, data_type, name, doc_string,
// each with its own wire type. Anything else (typed data next to raw_data, external-data fields,
// segments, newer fields, a known field with another wire type, which protobuf keeps as an unknown one
// and writes after all the others) keeps the tensor whole, so the ordinary checks see it exactly as it
// is and the writer puts its raw_data back where protobuf does.
bool SplittableField(const Field& f) {
  switch (f.number) {
    case kTensorDims: return f.wire == kVarint || f.wire == kLengthDelimited;
    case kTensorDataType: return f.wire == kVarint;
    case kTensorName:
    case kTensorDocString: return f.wire == kLengthDelimited;
    default: return false;
  }
}

constexpr uint64_t kInt32 = 6, kInt64 = 7;  // TensorProto.DataType

class Splitter : public Walk {
 public:
  Splitter(Source& source, int64_t threshold, std::vector<SplitTensor>* split)
      : Walk(source), threshold_(threshold), split_(split) {}

 private:
  // A tensor's fields without its raw_data; 0 if it has no large raw_data, is one the graph analysis
  // reads as numbers (integers, one element), or has anything that makes leaving it out unsafe (a second
  // raw_data, any field but the plain ones, a field not understood).
  int Tensor(const Field& t, Pieces* out) override {
    if (t.end - t.value < threshold_) return 0;
    int64_t pos = t.value;
    int raw_data_fields = 0;
    uint64_t data_type = 0;
    bool one_element = true;  // no dims, or all of them 1
    SplitTensor found;
    Pieces fields;
    Field f;
    while (pos < t.end) {
      if (!NextField(source_, &pos, t.end, &f)) return 0;
      if (f.number == kTensorRawData) {
        if (++raw_data_fields > 1 || f.wire != kLengthDelimited || f.end - f.value < threshold_) return 0;
        found.offset = f.value;
        found.length = f.end - f.value;
        continue;
      }
      if (!SplittableField(f)) return 0;
      int64_t at = f.value;
      uint64_t v;
      if (f.number == kTensorDataType && !ReadVarint(source_, &at, &data_type)) return 0;
      if (f.number == kTensorDims && f.wire == kVarint) {
        if (!ReadVarint(source_, &at, &v)) return 0;
        one_element = one_element && v == 1;
      }
      while (f.number == kTensorDims && f.wire == kLengthDelimited && at < f.end) {  // packed dims
        if (!ReadVarint(source_, &at, &v) || at > f.end) return 0;
        one_element = one_element && v == 1;
      }
      fields.Copy(f.start, f.end - f.start);
    }
    if (raw_data_fields != 1 || data_type == kInt32 || data_type == kInt64 || one_element) return 0;
    found.path = path_;
    split_->push_back(found);
    *out = std::move(fields);
    ++changes_;
    return 1;
  }

  int64_t threshold_;
  std::vector<SplitTensor>* split_;
};

class Planner : public Walk {
 public:
  Planner(Source& source, const std::map<TensorPath, int64_t>& lengths) : Walk(source), lengths_(lengths) {
    for (const auto& [path, length] : lengths) {
      for (size_t n = 1; n < path.size(); ++n) prefixes_.insert(TensorPath(path.begin(), path.begin() + n));
    }
  }
  size_t placed() const { return changes_; }

 private:
  bool Enter() const override { return prefixes_.count(path_) > 0; }

  // The tensor's fields with a raw_data field inserted before the first field numbered above it.
  int Tensor(const Field& t, Pieces* out) override {
    auto it = lengths_.find(path_);
    if (it == lengths_.end()) return 0;
    int64_t pos = t.value;
    bool inserted = false;
    auto insert = [&] {
      out->Header(kTensorRawData, it->second);
      out->Tensor(&it->first, it->second);
      inserted = true;
    };
    Field f;
    while (pos < t.end) {
      if (!NextField(source_, &pos, t.end, &f) || f.number == kTensorRawData) return -1;
      if (f.number > kTensorRawData && !inserted) insert();
      out->Copy(f.start, f.end - f.start);
    }
    if (!inserted) insert();
    ++changes_;
    return 1;
  }

  const std::map<TensorPath, int64_t>& lengths_;
  std::set<TensorPath> prefixes_;
};

}  // namespace

std::string PathText(const TensorPath& path) {
  std::string text;
  Kind kind = Kind::kModel;
  for (const auto& [number, index] : path) {
    const std::optional<Child> child = ChildOf(kind, number);
    if (!text.empty()) text += ".";
    text += child ? child->name : "#" + std::to_string(number);
    if (!child || child->repeated) text += "[" + std::to_string(index) + "]";
    kind = child ? child->kind : Kind::kTensor;
  }
  return text;
}

onnx::TensorProto* FindTensor(onnx::ModelProto* model, const TensorPath& path) {
  onnx::GraphProto* graph = nullptr;
  onnx::NodeProto* node = nullptr;
  onnx::AttributeProto* attribute = nullptr;
  Kind kind = Kind::kModel;
  for (size_t i = 0; i < path.size(); ++i) {
    const auto [number, index] = path[i];
    const bool last = i + 1 == path.size();
    const std::optional<Child> child = ChildOf(kind, number);
    if (!child || index < 0 || (!child->repeated && index != 0) || (child->kind == Kind::kTensor) != last) {
      return nullptr;
    }
    switch (kind) {
      case Kind::kModel:
        if (!model->has_graph()) return nullptr;
        graph = model->mutable_graph();
        break;
      case Kind::kGraph:
        if (number == kGraphInitializer) return index < graph->initializer_size() ? graph->mutable_initializer(index) : nullptr;
        if (index >= graph->node_size()) return nullptr;
        node = graph->mutable_node(index);
        break;
      case Kind::kNode:
        if (index >= node->attribute_size()) return nullptr;
        attribute = node->mutable_attribute(index);
        break;
      case Kind::kAttribute:
        if (number == kAttributeT) return attribute->has_t() ? attribute->mutable_t() : nullptr;
        if (number == kAttributeTensors) return index < attribute->tensors_size() ? attribute->mutable_tensors(index) : nullptr;
        if (number == kAttributeG && !attribute->has_g()) return nullptr;
        if (number == kAttributeGraphs && index >= attribute->graphs_size()) return nullptr;
        graph = number == kAttributeG ? attribute->mutable_g() : attribute->mutable_graphs(index);
        break;
      case Kind::kTensor: return nullptr;
    }
    kind = child->kind;
  }
  return nullptr;
}

bool SplitLargeTensors(int fd, int64_t size, int64_t threshold, std::string* skeleton, std::vector<SplitTensor>* split) {
  Source source(fd, size);
  skeleton->clear();
  split->clear();
  Splitter splitter(source, threshold, split);
  Pieces plan;
  if (!splitter.Model(&plan)) return false;
  if (split->empty()) return true;  // nothing left out: the caller parses the file itself
  skeleton->reserve(static_cast<size_t>(plan.size));
  for (const Piece& piece : plan.list) {
    if (piece.what == Piece::kBytes) skeleton->append(piece.bytes);
    else if (!source.Append(piece.offset, piece.length, skeleton)) return false;
  }
  return true;
}

Status WriteWithRawData(const std::string& skeleton, const std::map<TensorPath, int64_t>& lengths,
                        const std::function<Status(const TensorPath& path, const ByteSink& sink)>& produce,
                        const ByteSink& out) {
  Source source(skeleton);
  Planner planner(source, lengths);
  Pieces plan;
  if (!planner.Model(&plan) || planner.placed() != lengths.size()) {
    return {ExitCode::kInternal, "the model's large tensors could not be placed back into it"};
  }
  for (const Piece& piece : plan.list) {
    if (piece.what == Piece::kCopy) {
      REINIT_RETURN_IF_ERROR(out.write(skeleton.data() + piece.offset, static_cast<size_t>(piece.length)));
      continue;
    }
    if (piece.what == Piece::kBytes) {
      REINIT_RETURN_IF_ERROR(out.write(piece.bytes.data(), piece.bytes.size()));
      continue;
    }
    // Counted, and never past the tensor's length: a producer that overruns is stopped, not trusted.
    const std::string where = "tensor at " + PathText(*piece.tensor);
    int64_t written = 0;
    auto fits = [&](size_t n) { return written + static_cast<int64_t>(n) <= piece.length; };
    ByteSink counted;
    counted.write = [&](const char* data, size_t n) -> Status {
      if (!fits(n)) return {ExitCode::kInternal, where + ": too many bytes"};
      written += static_cast<int64_t>(n);
      return out.write(data, n);
    };
    if (out.room) {
      counted.room = [&](size_t want, size_t* got) {
        return out.room(std::min<size_t>(want, static_cast<size_t>(piece.length - written)), got);
      };
      counted.produced = [&](size_t n) -> Status {
        if (!fits(n)) return {ExitCode::kInternal, where + ": too many bytes"};
        written += static_cast<int64_t>(n);
        return out.produced(n);
      };
    }
    REINIT_RETURN_IF_ERROR(produce(*piece.tensor, counted));
    if (written != piece.length) {
      return {ExitCode::kInternal, where + ": produced " + std::to_string(written) + " bytes, not " +
                                       std::to_string(piece.length)};
    }
  }
  return Status::Ok();
}

}  // namespace reinit
