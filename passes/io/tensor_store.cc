#include "passes/io/tensor_store.h"

#include "passes/graph/tensor_values.h"

namespace reinit {

void TensorStore::AddExternal(const onnx::TensorProto* t, const ExternalSource& source) {
  Entry& e = entries_[t];
  e.place = Place::kExternal;
  e.external = true;
  e.source = source;
  input_files_.insert(source.file);
}

void TensorStore::AddStreamed(const onnx::TensorProto* t, const TensorPath& path, const ExternalSource& source) {
  Entry& e = entries_[t];
  e.place = Place::kStreamed;
  e.path = path;
  e.source = source;
}

void TensorStore::AddCopy(const onnx::TensorProto* original, const onnx::TensorProto* copy) {
  auto it = entries_.find(original);
  if (it == entries_.end()) return;
  Entry e = it->second;
  e.path.clear();  // a copy is a new initializer: never spliced back at the original's place
  if (e.place == Place::kStreamed) e.place = Place::kExternal;  // its bytes are still in the input file
  entries_[copy] = e;
}

TensorStore::Place TensorStore::Of(const onnx::TensorProto& t) const {
  auto it = entries_.find(&t);
  return it == entries_.end() ? Place::kMemory : it->second.place;
}

bool TensorStore::FromExternalData(const onnx::TensorProto& t) const {
  auto it = entries_.find(&t);
  return it != entries_.end() && it->second.external;
}

Status TensorStore::ReadBytes(const onnx::TensorProto& t, uint64_t offset, uint64_t stride, uint64_t count,
                              uint64_t width, std::string* bytes) const {
  auto it = entries_.find(&t);
  if (it == entries_.end() || it->second.place == Place::kMemory) {
    bytes->clear();
    std::string typed;  // a typed field's elements as raw bytes (small tensors)
    if (!t.has_raw_data()) REINIT_RETURN_IF_ERROR(RawBytes(t, &typed));
    const std::string& raw = t.has_raw_data() ? t.raw_data() : typed;
    for (uint64_t i = 0; i < count; ++i) {
      if (offset + i * stride + width > raw.size()) {
        return {ExitCode::kInternal, "tensor '" + t.name() + "': a read past its bytes"};
      }
      bytes->append(raw, offset + i * stride, width);
    }
    return Status::Ok();
  }
  return ReadPieces(it->second.source, offset, stride, count, width, bytes);
}

Status TensorStore::ReadValues(const onnx::TensorProto& t, std::vector<double>* values) const {
  auto it = entries_.find(&t);
  if (it == entries_.end() || it->second.place == Place::kMemory) return reinit::ReadValues(t, values);
  onnx::TensorProto loaded = t;
  loaded.clear_external_data();
  loaded.clear_data_location();
  REINIT_RETURN_IF_ERROR(ReadSource(it->second.source, loaded.mutable_raw_data()));
  return reinit::ReadValues(loaded, values);
}

Status TensorStore::ForEachBlock(const onnx::TensorProto& t, int64_t block, const Block& f) const {
  std::vector<double> values;
  auto it = entries_.find(&t);
  if (it == entries_.end() || it->second.place == Place::kMemory) {
    REINIT_RETURN_IF_ERROR(reinit::ReadValues(t, &values));  // any storage field
    return f(values, 0);
  }
  int64_t n = 0;
  REINIT_RETURN_IF_ERROR(ElementCount(t, &n));
  const uint64_t width = FloatByteWidth(t.data_type());
  onnx::TensorProto piece;  // one block of the tensor, decoded as the tensor would be
  piece.set_name(t.name());
  piece.set_data_type(t.data_type());
  for (int64_t first = 0; first < n; first += block) {
    const int64_t len = std::min(block, n - first);
    piece.clear_dims();
    piece.add_dims(len);
    REINIT_RETURN_IF_ERROR(ReadPieces(it->second.source, first * width, 0, 1, len * width, piece.mutable_raw_data()));
    REINIT_RETURN_IF_ERROR(reinit::ReadValues(piece, &values));
    REINIT_RETURN_IF_ERROR(f(values, first));
  }
  return Status::Ok();
}

void TensorStore::NowInMemory(onnx::TensorProto* t) {
  t->clear_external_data();
  // Cleared, not set to DEFAULT: a streamed tensor had no data_location in the input (the splitter
  // leaves out no other), and one set to DEFAULT would be written as a field the in-memory rewrite does
  // not write. A tensor from external data is pointed at the output's data file again anyway.
  t->clear_data_location();
  auto it = entries_.find(t);
  if (it == entries_.end()) return;
  it->second.place = Place::kMemory;
  it->second.producer = nullptr;
}

void TensorStore::Produce(const onnx::TensorProto* t, uint64_t length, Producer producer) {
  Entry& e = entries_[t];
  e.producer = std::move(producer);
  e.length = length;
}

const TensorStore::Producer* TensorStore::ProducerOf(const onnx::TensorProto& t) const {
  auto it = entries_.find(&t);
  return it != entries_.end() && it->second.producer ? &it->second.producer : nullptr;
}

uint64_t TensorStore::ProducedLength(const onnx::TensorProto& t) const {
  auto it = entries_.find(&t);
  return it == entries_.end() ? 0 : it->second.length;
}

const ExternalSource* TensorStore::SourceOf(const onnx::TensorProto& t) const {
  auto it = entries_.find(&t);
  if (it == entries_.end() || it->second.place == Place::kMemory || it->second.producer) return nullptr;
  return &it->second.source;
}

std::map<TensorPath, const onnx::TensorProto*> TensorStore::Streamed() const {
  std::map<TensorPath, const onnx::TensorProto*> streamed;
  for (const auto& [t, e] : entries_) {
    if (e.place == Place::kStreamed && !e.path.empty()) streamed[e.path] = t;
  }
  return streamed;
}

}  // namespace reinit
