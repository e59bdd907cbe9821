// Where a producer of many bytes puts them: written (copied) or, where the destination allows it,
// generated in place into room it lends (AtomicFile::Room / Produced).
#pragma once

#include <cstddef>
#include <functional>

#include "passes/graph/status.h"

namespace reinit {

struct ByteSink {
  std::function<Status(const char* data, size_t size)> write;
  // Up to `want` bytes of room (possibly fewer, at least one for want > 0), then produced(n) for the n
  // bytes filled: the same as write() of them. Both empty where only write() is possible.
  std::function<char*(size_t want, size_t* got)> room;
  std::function<Status(size_t n)> produced;
};

}  // namespace reinit
