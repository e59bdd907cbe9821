// The Python module onnx_reinit: plan and rewrite from a training script, with the command line's own
// parser and commands run in-process (tool/options.h: ParseCommandLine, RunCommand), so options, error
// messages, exit codes and the bytes written are the CLI's by construction. Keyword arguments become
// long options (preset="keras" -> --preset=keras, booleans flags, lists repeated); a model given as
// bytes or an onnx.ModelProto goes to a private temporary directory, removed afterwards whatever
// happens; the report comes back through --report in that directory, the model through -o there.
#include <pybind11/pybind11.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "passes/graph/status.h"
#include "passes/report/version.h"
#include "tool/options.h"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace {

const char kErrorDoc[] =
    "An onnx-reinit command failed. `exit_code` is the command line's exit code for the same failure "
    "(2 usage, 3 unreadable model, 4 unsupported construct, 5 write failure, 1 internal error) and "
    "`message` its one-line error, without the 'onnx-reinit: error: ' prefix.";

// The exception type, created when the module is imported.
PyObject* g_error = nullptr;

[[noreturn]] void Raise(int exit_code, const std::string& message) {
  py::object error = py::reinterpret_borrow<py::object>(g_error)(message);
  error.attr("exit_code") = exit_code;
  error.attr("message") = message;
  PyErr_SetObject(g_error, error.ptr());
  throw py::error_already_set();
}

// A directory only this process can read (mkdtemp: mode 0700), removed with everything in it when the
// call returns or throws.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "onnx_reinit.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      Raise(static_cast<int>(reinit::ExitCode::kWriteFailed), "cannot create a temporary directory in " +
                                                                  fs::temp_directory_path().string());
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string File(const char* name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// Where the model comes from: a path of the caller's, or bytes the module writes to a temporary file.
struct Input {
  std::string path;   // what the command reads
  std::string label;  // "" for the caller's path; "<bytes>" or "<onnx.ModelProto>" for a temporary file
  std::string bytes;  // the serialized model, for a temporary file
  py::object proto_type;  // the ModelProto class, to return the same kind of object
};

Input ReadInput(const py::object& model) {
  Input input;
  if (py::isinstance<py::str>(model) || py::hasattr(model, "__fspath__")) {
    py::object path = py::module_::import("os").attr("fspath")(model);
    if (!py::isinstance<py::str>(path)) Raise(static_cast<int>(reinit::ExitCode::kUsage), "a model path must be a str");
    input.path = path.cast<std::string>();
  } else if (py::isinstance<py::bytes>(model) || py::isinstance<py::bytearray>(model) ||
             py::isinstance<py::memoryview>(model)) {
    input.bytes = py::bytes(py::module_::import("builtins").attr("bytes")(model)).cast<std::string>();
    input.label = "<bytes>";
  } else if (py::hasattr(model, "SerializeToString") && py::hasattr(model, "ParseFromString")) {
    input.bytes = model.attr("SerializeToString")().cast<std::string>();
    input.label = "<onnx.ModelProto>";
    input.proto_type = py::type::of(model);
  } else {
    Raise(static_cast<int>(reinit::ExitCode::kUsage),
          "model must be a path (str or os.PathLike), bytes or an onnx.ModelProto, not " +
              py::str(py::type::of(model).attr("__name__")).cast<std::string>());
  }
  return input;
}

// Options the module sets itself, with why a caller cannot.
struct Reserved {
  const char* key;
  const char* why;
};
constexpr Reserved kReserved[] = {
    {"in_place", "the model is returned"},
    {"external_data_file", "the model is returned as one serialized message"},
    {"size_threshold", "the model is returned as one serialized message"},
    {"report", "the report is returned"},
    {"format", "the report is returned as a dict"},
    {"help", "see help(onnx_reinit) and onnx-reinit --help"},
    {"version", "see onnx_reinit.__version__"},
};

// keyword arguments -> "--long-name=value" arguments: True a flag (False and None leave it out), a list
// or tuple the option once per item, anything else its str().
std::vector<std::string> OptionArguments(const py::kwargs& kwargs) {
  std::vector<std::string> args;
  for (auto item : kwargs) {
    const std::string key = py::str(item.first);
    for (const Reserved& r : kReserved) {
      if (key == r.key) Raise(static_cast<int>(reinit::ExitCode::kUsage), key + " is not an option here: " + r.why);
    }
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const py::handle value = item.second;
    if (value.is_none()) continue;
    if (py::isinstance<py::bool_>(value)) {
      if (value.cast<bool>()) args.push_back(flag);
    } else if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
      for (const py::handle v : value) args.push_back(flag + "=" + py::str(v).cast<std::string>());
    } else {
      args.push_back(flag + "=" + py::str(value).cast<std::string>());
    }
  }
  return args;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void ReplaceAll(std::string* text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = text->find(from); at != std::string::npos; at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
  }
}

struct Outcome {
  py::dict report;
  std::string model;      // rewrite: the bytes written
  py::object proto_type;  // the ModelProto class the model came as, or None
};

// Runs `command` on `model` as `onnx-reinit COMMAND MODEL [-o OUT] OPTIONS... --report R` would, with the
// GIL released while the tool works. Raises onnx_reinit.Error as the CLI would fail.
//
// rewrite writes the model to `output` when one is given (with its data file beside it, as the CLI
// does), else to the temporary directory and returns its bytes — unless it came with a data file (a model
// whose input had external data, or over 2 GB), which bytes alone would lose: then it is an error that
// says to give `output`.
Outcome Run(const char* command, const py::object& model, const py::kwargs& kwargs, std::vector<std::string> extra,
            const std::string& output = "") {
  Input input = ReadInput(model);
  std::vector<std::string> args = OptionArguments(kwargs);
  TempDir dir;
  const std::string report_path = dir.File("report.json");
  const std::string output_path = output.empty() ? dir.File("model.onnx") : output;
  if (!input.label.empty()) input.path = dir.File("input.onnx");
  std::vector<std::string> argv = {"onnx-reinit", command, input.path};
  if (std::string(command) == "rewrite") argv.push_back("--output=" + output_path);
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--report", report_path});

  int code = 0;
  std::ostringstream out, err;
  std::string report_text, model_bytes;
  bool wrote_input = true;
  {
    py::gil_scoped_release release;
    if (!input.label.empty()) {
      std::ofstream file(input.path, std::ios::binary);
      file.write(input.bytes.data(), static_cast<std::streamsize>(input.bytes.size()));
      wrote_input = static_cast<bool>(file.flush());
      std::string().swap(input.bytes);
    }
    if (wrote_input) {
      std::vector<const char*> pointers;
      for (const std::string& a : argv) pointers.push_back(a.c_str());
      reinit::Options options;
      code = reinit::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data(), &options, out, err);
      if (code < 0) code = reinit::RunCommand(options, out, err);
      if (code == 0) {
        report_text = Slurp(report_path);
        if (std::string(command) == "rewrite" && output.empty()) model_bytes = Slurp(output_path);
      }
    }
  }
  if (!wrote_input) Raise(static_cast<int>(reinit::ExitCode::kWriteFailed), input.path + ": cannot write the model to a temporary file");

  // The tool names its input; a temporary file is named for what the caller gave instead.
  std::string diagnostics = err.str();
  ReplaceAll(&diagnostics, input.label.empty() ? "" : input.path, input.label);
  std::istringstream lines(diagnostics);
  const std::string error_prefix = "onnx-reinit: error: ", warning_prefix = "onnx-reinit: warning: ";
  std::string error_line;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(error_prefix, 0) == 0 && error_line.empty()) error_line = line.substr(error_prefix.size());
    if (line.rfind(warning_prefix, 0) == 0) {
      if (PyErr_WarnEx(PyExc_UserWarning, line.substr(warning_prefix.size()).c_str(), 1) != 0) throw py::error_already_set();
    }
  }
  if (code != 0) Raise(code, error_line.empty() ? "failed with exit code " + std::to_string(code) : error_line);

  const std::string data_file = output_path + ".data";
  if (std::string(command) == "rewrite" && output.empty() && fs::exists(data_file)) {
    Raise(static_cast<int>(reinit::ExitCode::kUsage),
          (input.label.empty() ? input.path : input.label) +
              ": the rewritten model keeps its tensors in a data file, which bytes cannot carry: give output=PATH "
              "to write the model and its data file there");
  }

  Outcome outcome;
  outcome.report = py::module_::import("json").attr("loads")(py::bytes(report_text)).cast<py::dict>();
  if (!input.label.empty()) outcome.report["input"]["path"] = input.label;
  if (output.empty() && outcome.report.contains("output") && !outcome.report["output"].is_none()) {
    outcome.report["output"]["path"] = input.proto_type ? "<onnx.ModelProto>" : "<bytes>";
  }
  outcome.model = std::move(model_bytes);
  outcome.proto_type = input.proto_type;
  return outcome;
}

}  // namespace

PYBIND11_MODULE(onnx_reinit, m) {
  m.doc() =
      "Re-initialize the learnable weights of ONNX models: the onnx-reinit command line's plan and rewrite, "
      "in-process. Options are its long options with underscores (preset='keras', only=['op=Gemm'], "
      "reinit_last=2, preserve_signal=True).";
  g_error = PyErr_NewExceptionWithDoc("onnx_reinit.Error", kErrorDoc, PyExc_Exception, nullptr);
  if (g_error == nullptr) throw py::error_already_set();
  m.add_object("Error", py::reinterpret_borrow<py::object>(g_error));
  m.attr("__version__") = py::str(reinit::kToolVersion);

  m.def(
      "plan",
      [](const py::object& model, const py::kwargs& options) { return Run("plan", model, options, {}).report; },
      py::arg("model"),
      "plan(model, **options) -> dict: what rewrite would do, as the JSON report (onnx-reinit plan MODEL "
      "--report R). model: a path (str or os.PathLike), bytes, or an onnx.ModelProto.");
  m.def(
      "rewrite",
      [](const py::object& model, const py::object& seed, const py::object& output, const py::kwargs& options) {
        std::string output_path;
        if (!output.is_none()) output_path = py::module_::import("os").attr("fspath")(output).cast<std::string>();
        Outcome outcome = Run("rewrite", model, options, {"--seed=" + py::str(seed).cast<std::string>()}, output_path);
        if (!output_path.empty()) return py::make_tuple(py::str(output_path), outcome.report);
        py::bytes bytes(outcome.model);
        outcome.model.clear();
        if (!outcome.proto_type) return py::make_tuple(bytes, outcome.report);
        py::object proto = outcome.proto_type();
        proto.attr("ParseFromString")(bytes);
        return py::make_tuple(proto, outcome.report);
      },
      py::arg("model"), py::arg("seed") = 0, py::arg("output") = py::none(),
      "rewrite(model, seed=0, output=None, **options) -> (model, dict): the re-initialized model and the JSON report, as "
      "onnx-reinit rewrite MODEL -o OUT --seed SEED --report R writes them. The model comes back as an "
      "onnx.ModelProto when one was given, else as the serialized bytes (onnx.load_from_string reads them); "
      "with output=PATH it is written there instead (with its data file beside it, as the CLI writes one) and "
      "the path comes back. A model written with a data file (its input had external data, or it is over 2 GB) "
      "needs output=PATH.");
}
