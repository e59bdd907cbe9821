#include "passes/io/external_data.h"

#include "passes/io/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>

namespace reinit {

namespace {

constexpr int64_t kAlignment = 4096;  // offsets in the output data file: page aligned, mmap-friendly

void VisitGraph(onnx::GraphProto* graph, const std::function<void(onnx::TensorProto&, const std::string&)>& fn) {
  for (auto& init : *graph->mutable_initializer()) fn(init, init.name());
  for (auto& node : *graph->mutable_node()) {
    const std::string owner = node.output_size() > 0 ? node.output(0) : node.name();
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) fn(*attr.mutable_t(), owner + ":" + attr.name());
      for (int i = 0; i < attr.tensors_size(); ++i) {
        fn(*attr.mutable_tensors(i), owner + ":" + attr.name() + "." + std::to_string(i));
      }
      if (attr.has_g()) VisitGraph(attr.mutable_g(), fn);
      for (auto& sub : *attr.mutable_graphs()) VisitGraph(&sub, fn);
    }
  }
}

bool ParseInt(const std::string& text, int64_t* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < 0) return false;
  *value = v;
  return true;
}

// Reads one external tensor's bytes into raw_data.
Status ReadOne(const std::string& model_dir, onnx::TensorProto& t, const std::string& key, bool lazy,
               ExternalTensors* external) {
  const std::string where = "tensor '" + t.name() + "'";
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : t.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset" && !ParseInt(entry.value(), &offset)) {
      return {ExitCode::kBadModel, where + ": external data offset '" + entry.value() + "' is not a non-negative integer"};
    } else if (entry.key() == "length" && !ParseInt(entry.value(), &length)) {
      return {ExitCode::kBadModel, where + ": external data length '" + entry.value() + "' is not a non-negative integer"};
    }
  }
  if (location.empty()) return {ExitCode::kBadModel, where + ": external data has no location"};
  if (location.find('\0') != std::string::npos || location[0] == '/' || location == ".." ||
      location.rfind("../", 0) == 0 || location.find("/../") != std::string::npos ||
      (location.size() >= 3 && location.compare(location.size() - 3, 3, "/..") == 0)) {
    return {ExitCode::kBadModel, where + ": external data location '" + location + "' must be a relative path inside the model's directory"};
  }
  const std::string dir = CanonicalPath(model_dir);
  const std::string file = CanonicalPath(model_dir + "/" + location);
  if (file.empty()) return {ExitCode::kBadModel, where + ": external data file '" + location + "' cannot be opened"};
  if (file.compare(0, dir.size() + 1, dir + "/") != 0) {
    return {ExitCode::kBadModel, where + ": external data file '" + location + "' resolves outside the model's directory"};
  }
  // The location itself may not be a symbolic link (even one that stays inside), and the file is opened
  // with O_NOFOLLOW and checked on the open descriptor: no swapping it between check and read. O_NONBLOCK:
  // opening a FIFO for reading would otherwise wait for a writer before the check could refuse it.
  struct stat st {};
  if (::lstat((model_dir + "/" + location).c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return {ExitCode::kBadModel, where + ": external data file '" + location + "' is a symbolic link"};
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {ExitCode::kBadModel, where + ": external data file '" + location + "' cannot be opened"};
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return {ExitCode::kBadModel, where + ": external data file '" + location + "' is not a regular file"};
  }
  if (st.st_nlink > 1) {
    return {ExitCode::kBadModel, where + ": external data file '" + location + "' has other hard links"};
  }
  if (length < 0) length = st.st_size - offset;
  if (offset > st.st_size || length < 0 || length > st.st_size - offset) {
    return {ExitCode::kBadModel, where + ": external data [" + std::to_string(offset) + ", +" + std::to_string(length) +
                                     ") lies past the end of '" + location + "' (" + std::to_string(st.st_size) + " bytes)"};
  }
  external->files.insert(file);
  const ExternalSource source{file, offset, length};
  if (lazy) {
    // Keep it external; record where the bytes are and make the length explicit for storage checks.
    PointAt(t, location, static_cast<uint64_t>(offset), static_cast<uint64_t>(length));
    external->sources[key] = source;
    return Status::Ok();
  }
  std::string bytes;
  Status status = ReadSource(source, &bytes);
  if (!status.ok()) return {ExitCode::kBadModel, where + ": cannot read external data from '" + location + "'"};
  t.clear_external_data();
  t.set_data_location(onnx::TensorProto::DEFAULT);
  t.set_raw_data(std::move(bytes));
  return Status::Ok();
}

}  // namespace

void ForEachTensor(onnx::ModelProto* model, const std::function<void(onnx::TensorProto&, const std::string&)>& fn) {
  VisitGraph(model->mutable_graph(), fn);
}

Status LoadExternalData(const std::string& model_path, onnx::ModelProto* model, ExternalTensors* external, bool lazy) {
  const std::string dir = DirectoryOf(model_path);
  Status status;
  ForEachTensor(model, [&](onnx::TensorProto& t, const std::string& key) {
    if (!status.ok() || t.data_location() != onnx::TensorProto::EXTERNAL) return;
    status = ReadOne(dir, t, key, lazy, external);
    if (status.ok()) external->keys.insert(key);
  });
  return status;
}

Status StreamSource(const ExternalSource& source, const std::function<Status(const char*, size_t)>& take) {
  const int fd = ::open(source.file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {ExitCode::kBadModel, source.file + ": cannot be opened"};
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return {ExitCode::kBadModel, source.file + ": not a regular file"};
  std::string buf(static_cast<size_t>(std::min<int64_t>(source.length, int64_t{4} << 20)), '\0');
  for (int64_t done = 0; done < source.length;) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), source.length - done));
    const ssize_t n = ::pread(fd, buf.data(), want, source.offset + done);
    if (n <= 0) return {ExitCode::kBadModel, source.file + ": cannot read external data"};
    REINIT_RETURN_IF_ERROR(take(buf.data(), static_cast<size_t>(n)));
    done += n;
  }
  return Status::Ok();
}

Status ReadSource(const ExternalSource& source, std::string* bytes) {
  bytes->clear();
  bytes->reserve(static_cast<size_t>(source.length));
  return StreamSource(source, [&](const char* data, size_t n) {
    bytes->append(data, n);
    return Status::Ok();
  });
}

Status ReadPieces(const ExternalSource& source, uint64_t offset, uint64_t stride, uint64_t count, uint64_t width,
                  std::string* bytes) {
  bytes->clear();
  if (count == 0 || width == 0) return Status::Ok();
  const uint64_t length = static_cast<uint64_t>(source.length);
  const unsigned __int128 end = static_cast<unsigned __int128>(count - 1) * stride + offset + width;  // no overflow
  if (end > length) {
    return {ExitCode::kInternal, source.file + ": a read past the tensor's bytes"};
  }
  const int fd = ::open(source.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {ExitCode::kBadModel, source.file + ": cannot be opened"};
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  bytes->resize(static_cast<size_t>(count * width));
  for (uint64_t i = 0; i < count; ++i) {
    char* to = bytes->data() + i * width;
    const int64_t at = source.offset + static_cast<int64_t>(offset + i * stride);
    for (uint64_t done = 0; done < width;) {
      const ssize_t n = ::pread(fd, to + done, width - done, at + static_cast<int64_t>(done));
      if (n <= 0) return {ExitCode::kBadModel, source.file + ": cannot read external data"};
      done += static_cast<uint64_t>(n);
    }
  }
  return Status::Ok();
}

const ExternalSource* FindSource(onnx::ModelProto* model, const ExternalTensors& external,
                                 const onnx::TensorProto& tensor) {
  const ExternalSource* found = nullptr;
  ForEachTensor(model, [&](onnx::TensorProto& t, const std::string& key) {
    if (&t != &tensor) return;
    auto it = external.sources.find(key);
    if (it != external.sources.end()) found = &it->second;
  });
  return found;
}

Status CopySource(const ExternalSource& source, AtomicFile* file, uint64_t* offset) {
  REINIT_RETURN_IF_ERROR(file->Pad(kAlignment));
  *offset = file->size();
  return StreamSource(source, [&](const char* data, size_t n) { return file->Write(data, n); });
}

void PointAt(onnx::TensorProto& t, const std::string& location, uint64_t offset, uint64_t length) {
  t.clear_raw_data();
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  t.clear_external_data();
  for (auto [k, v] : {std::pair<const char*, std::string>{"location", location},
                      {"offset", std::to_string(offset)},
                      {"length", std::to_string(length)}}) {
    auto* entry = t.add_external_data();
    entry->set_key(k);
    entry->set_value(v);
  }
}

std::string DataFileName(const std::string& model_path) { return BaseName(model_path) + ".data"; }

std::set<std::string> LargeTensors(onnx::ModelProto* model, uint64_t threshold) {
  std::set<std::string> keys;
  ForEachTensor(model, [&](onnx::TensorProto& t, const std::string& key) {
    if (t.has_raw_data() && t.raw_data().size() >= threshold) keys.insert(key);
  });
  return keys;
}

Status WriteExternalData(const std::set<std::string>& keys, const std::string& location, onnx::ModelProto* model,
                         AtomicFile* file) {
  Status status;
  ForEachTensor(model, [&](onnx::TensorProto& t, const std::string& key) {
    if (!status.ok() || !keys.count(key) || !t.has_raw_data()) return;
    status = file->Pad(kAlignment);
    const uint64_t offset = file->size();
    if (status.ok()) status = file->Write(t.raw_data().data(), t.raw_data().size());
    if (!status.ok()) return;
    const uint64_t length = t.raw_data().size();
    std::string().swap(*t.mutable_raw_data());  // give the memory back now
    PointAt(t, location, offset, length);
  });
  return status;
}

}  // namespace reinit
