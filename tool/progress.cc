#include "tool/progress.h"

#include "passes/report/version.h"

namespace reinit {

Progress::Progress(std::ostream& err, bool enabled, double after_seconds)
    : err_(err), enabled_(enabled), after_(after_seconds), start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::Update(const std::string& name, uint64_t done, uint64_t total, const std::string& unit) {
  if (!enabled_) return;
  Stage& stage = stages_[name];
  stage.done = done;
  stage.total = total;
  stage.unit = unit;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < after_ || (stage.printed && now - last_ < after_)) return;
  last_ = now;
  Print(name, stage);
}

void Progress::Finish(const std::string& name) {
  auto it = stages_.find(name);
  if (!enabled_ || it == stages_.end() || !it->second.printed || it->second.finished) return;
  // The final line shows the whole: the total when it was known, else everything done.
  if (it->second.total == 0) it->second.total = it->second.done;
  it->second.done = it->second.total;
  it->second.finished = true;
  Print(name, it->second);
}

void Progress::Print(const std::string& name, Stage& stage) {
  const bool bytes = stage.unit == "MB";
  auto amount = [&](uint64_t n) { return std::to_string(bytes ? (n + 500000) / 1000000 : n); };
  err_ << kToolName << ": " << name << ": " << amount(stage.done);
  if (stage.total > 0) err_ << "/" << amount(stage.total);
  err_ << " " << stage.unit << "\n";
  stage.printed = true;
}

}  // namespace reinit
