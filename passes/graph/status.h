// Status: how every pass and every I/O step reports failure. No exceptions cross a pass boundary;
// exceptions from protobuf or the ONNX library are caught at the edge and turned into a Status whose
// message names the file, tensor or node at fault. The code doubles as the process exit code.
#pragma once

#include <string>
#include <utility>

namespace reinit {

// The documented exit codes of the command-line tool (README, "Exit codes").
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,     // a bug: an unexpected exception or broken invariant
  kUsage = 2,        // bad command line: unknown option, missing argument, bad pass list
  kBadModel = 3,     // the input cannot be read or is not a valid ONNX model
  kUnsupported = 4,  // the model is valid but uses a construct this version does not handle
  kWriteFailed = 5,  // the output model or report could not be written
  kCheckFailed = 6,  // check: at least one parameter is off what the policy recommends
};

class Status {
 public:
  Status() = default;
  Status(ExitCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == ExitCode::kOk; }
  ExitCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ExitCode code_ = ExitCode::kOk;
  std::string message_;
};

#define REINIT_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::reinit::Status _reinit_status = (expr); \
    if (!_reinit_status.ok()) return _reinit_status; \
  } while (0)

}  // namespace reinit
