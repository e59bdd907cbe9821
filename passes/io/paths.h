// Path pieces, as the tool uses them for a file and the directory it is written in.
#pragma once

#include <climits>
#include <cstdlib>
#include <string>

namespace reinit {

// "a/b/c.onnx" -> "a/b"; "c.onnx" -> "."; "/c.onnx" -> "/".
inline std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// "a/b/c.onnx" -> "c.onnx".
inline std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The absolute path with every symbolic link, "." and ".." resolved; "" if it does not resolve.
inline std::string CanonicalPath(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

}  // namespace reinit
