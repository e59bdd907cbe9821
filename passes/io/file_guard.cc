#include "passes/io/file_guard.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "passes/io/paths.h"

namespace reinit {

namespace {

constexpr int kMaxLinks = 40;  // as the kernel's own limit on symbolic links in one lookup

bool SameInode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// The standard stream (1 or 2) that `st` is, or -1.
int StandardStream(const struct stat& st) {
  for (int fd : {1, 2}) {
    struct stat own {};
    if (::fstat(fd, &own) == 0 && SameInode(own, st)) return fd;
  }
  return -1;
}

}  // namespace

bool IsStandardOutput(const std::string& path) {
  if (path == "-") return true;
  struct stat st {}, out {};
  return ::stat(path.c_str(), &st) == 0 && ::fstat(1, &out) == 0 && SameInode(st, out);
}

Status ResolveOutput(const std::string& path, OutputTarget* target) {
  *target = OutputTarget{};
  if (path == "-") {
    *target = {OutputTarget::Kind::kStream, "-", 1};
    return Status::Ok();
  }
  if (!path.empty() && path.back() == '/') {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {ExitCode::kUsage, path + ": is a directory"};
    return {ExitCode::kUsage, path + ": ends with '/': a file name is needed"};
  }
  std::string current = path;
  for (int hops = 0; hops <= kMaxLinks; ++hops) {
    struct stat st {};
    // stat first: it follows the kernel's own links (/dev/stdout -> /proc/self/fd/1 -> a pipe), whose
    // text readlink cannot follow.
    if (::stat(current.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return {ExitCode::kUsage, path + ": is a directory"};
      if (S_ISBLK(st.st_mode)) return {ExitCode::kUsage, path + ": is a block device, not a file to write a model to"};
      const int fd = StandardStream(st);
      if (fd >= 0 || !S_ISREG(st.st_mode)) {
        *target = {OutputTarget::Kind::kStream, current, fd};
        return Status::Ok();
      }
      const std::string real = CanonicalPath(current);
      *target = {OutputTarget::Kind::kFile, real.empty() ? current : real, -1};
      return Status::Ok();
    }
    // Not there: a new file, or a symbolic link to one that does not exist yet (created where it points).
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
      *target = {OutputTarget::Kind::kFile, current, -1};
      return Status::Ok();
    }
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(current.c_str(), buf, sizeof buf - 1);
    if (n <= 0) break;
    const std::string link(buf, static_cast<size_t>(n));
    current = link[0] == '/' ? link : DirectoryOf(current) + "/" + link;
  }
  return {ExitCode::kWriteFailed, path + ": too many levels of symbolic links"};
}

FileGuard::File FileGuard::Identify(const std::string& path, const std::string& what) {
  File f;
  f.path = path;
  f.what = what;
  std::string where = path;
  OutputTarget target;
  if (path == "-") {
    where = "/dev/stdout";
  } else if (ResolveOutput(path, &target).ok() && target.kind == OutputTarget::Kind::kFile) {
    where = target.path;
  }
  struct stat st {};
  f.exists = ::stat(where.c_str(), &st) == 0;
  if (f.exists) {
    f.dev = st.st_dev;
    f.ino = st.st_ino;
    f.null_device = S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
    f.canonical = CanonicalPath(where);
  } else {
    const std::string dir = CanonicalPath(DirectoryOf(where));
    f.canonical = dir.empty() ? "" : (dir == "/" ? "" : dir) + "/" + BaseName(where);
  }
  return f;
}

Status FileGuard::Read(const std::string& path, const std::string& what) {
  File f = Identify(path, what);
  f.input_model = what == "the input model";
  return Add(std::move(f));
}

Status FileGuard::Write(const std::string& path, const std::string& what, bool may_be_input_model) {
  OutputTarget target;
  REINIT_RETURN_IF_ERROR(ResolveOutput(path, &target));  // a directory, a block device: refused now
  File f = Identify(path, what);
  f.output = true;
  f.in_place = may_be_input_model;
  return Add(std::move(f));
}

bool FileGuard::Same(const File& a, const File& b) {
  return (!a.canonical.empty() && a.canonical == b.canonical) ||
         (a.exists && b.exists && a.dev == b.dev && a.ino == b.ino);
}

Status FileGuard::Add(File file) {
  // Inputs first: "would overwrite the input model" says more than "the same file as the output".
  for (const bool inputs : {true, false}) {
    for (const File& other : files_) {
      if (other.output == inputs || (!file.output && !other.output) || !Same(file, other)) continue;
      if (file.output && other.output) {
        if (file.null_device && other.null_device) continue;  // both discarded
        return {ExitCode::kUsage, file.path + ": " + file.what + " and " + other.what + " are the same file"};
      }
      const File& out = file.output ? file : other;
      const File& in = file.output ? other : file;
      if (out.in_place && in.input_model) continue;  // --in-place
      const bool hint = in.input_model && out.what == "the output";
      return {ExitCode::kUsage,
              out.path + ": " + out.what + " would overwrite " + in.what + (hint ? " (use --in-place)" : "")};
    }
  }
  files_.push_back(std::move(file));
  return Status::Ok();
}

}  // namespace reinit
