// Where a command's files really are, and the one check that no file it writes is a file it reads or
// another of its outputs.
//
// An output path may name a new file, an existing regular file, a symbolic link (the file it points to
// is replaced, in that file's directory, and the link stays a link), a character device, FIFO or socket
// (written to directly, never replaced: `-o /dev/null`, `-o /dev/stdout`), or "-" (standard output).
// A directory or a block device is refused.
//
// FileGuard holds every file a command reads (the model, its external data files, the rules file) and
// writes (the model, its data file, the report) and refuses, as a usage error, any output that is the
// same file as an input or as another output — by path (symbolic links, "." and ".." resolved) and by
// device and inode (hard links). Commands register each file as soon as they know it, before writing.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "passes/graph/status.h"

namespace reinit {

struct OutputTarget {
  enum class Kind { kFile, kStream };
  Kind kind = Kind::kFile;
  // kFile: the path written (renamed over), symbolic links followed. kStream: the path to open for
  // writing, or "-" for standard output.
  std::string path;
  int fd = -1;  // kStream: a descriptor of this process to write to (standard output or error), else -1
};

// Resolves an output path. kUsage for a directory ("is a directory"), a path ending in '/', a block
// device; kWriteFailed for a loop of symbolic links.
Status ResolveOutput(const std::string& path, OutputTarget* target);

// True when `path` is (or resolves to) this process's standard output.
bool IsStandardOutput(const std::string& path);

class FileGuard {
 public:
  // A file the command reads: "the input model", "the rules file", "the input's external data".
  Status Read(const std::string& path, const std::string& what);
  // A file the command writes: "the output", "the report", "the output's data file". kUsage when it is
  // a file read (unless `may_be_input_model`: --in-place) or another output (two outputs may both be
  // the null device), and as ResolveOutput for a directory or block device.
  Status Write(const std::string& path, const std::string& what, bool may_be_input_model = false);

 private:
  struct File {
    std::string path, what, canonical;
    bool exists = false, null_device = false, output = false, input_model = false, in_place = false;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  static File Identify(const std::string& path, const std::string& what);
  static bool Same(const File& a, const File& b);
  Status Add(File file);
  std::vector<File> files_;
};

}  // namespace reinit
