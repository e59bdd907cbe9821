// Progress lines on stderr for the long parts of a run: "onnx-reinit: regenerate: 40/130 tensors",
// "onnx-reinit: writing out.onnx: 312/531 MB". Nothing is printed for a run that is quick: the first
// line comes once the run has taken `after` seconds, then at most one line per `after` seconds per
// stage; a stage that printed anything ends with its complete line, so the last word is never a stale
// fraction.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

namespace reinit {

class Progress {
 public:
  Progress(std::ostream& err, bool enabled, double after_seconds);
  // `done` of `total` units of `stage` (unit "tensors", or "MB" for bytes given in bytes); total 0:
  // not known in advance.
  void Update(const std::string& stage, uint64_t done, uint64_t total, const std::string& unit);
  // The stage is complete: its final line, if any line about it was printed.
  void Finish(const std::string& stage);

 private:
  struct Stage {
    uint64_t done = 0, total = 0;
    std::string unit;
    bool printed = false, finished = false;
  };
  void Print(const std::string& name, Stage& stage);

  std::ostream& err_;
  bool enabled_;
  std::chrono::duration<double> after_;
  std::chrono::steady_clock::time_point start_, last_;
  std::map<std::string, Stage> stages_;
};

}  // namespace reinit
