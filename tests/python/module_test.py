#!/usr/bin/python3
"""The Python module onnx_reinit against the command line it wraps: the same bytes for the same options
and seed, the same report (but for the paths of what was passed in memory), the same errors with the
same exit codes, whatever form the model is given in, and no temporary file left behind.

usage: module_test.py TOOL MODELS_DIR   (with the module's build directory on PYTHONPATH)
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import numpy as np
import onnx
from onnx import helper, numpy_helper

import onnx_reinit

TOOL, MODELS = sys.argv[1], sys.argv[2]
del sys.argv[1:3]


def tool(*args):
    proc = subprocess.run([TOOL, *args], capture_output=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr.decode()


def cli_args(options):
    """The command-line form of the module's keyword arguments, written out by hand per case."""
    args = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            for v in value:
                args += [flag, v]
        else:
            args += [flag, str(value)]
    return args


# Bundled models with option sets that exercise values, flags and repeated options.
CASES = [
    ("cnn_bn.onnx", 7, {"preset": "keras", "distribution": "normal"}),
    ("mlp_tanh_deep.onnx", 3, {"preserve_signal": True}),
    ("zoo/resnet_tiny.onnx", 0, {"reinit_last": 1}),
    ("cnn_bn.onnx", 11, {"only": ["op=Conv", "op=Gemm"], "exclude": ["name=*.bias"]}),
]


class Module(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.work = self.dir.name
        # The module's temporary directories go here, so the test can see that none is left.
        self.tmp = os.path.join(self.work, "tmp")
        os.mkdir(self.tmp)
        self.saved_tmpdir = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = self.tmp

    def tearDown(self):
        self.assertEqual(os.listdir(self.tmp), [], "the module left temporary files")
        if self.saved_tmpdir is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = self.saved_tmpdir
        self.dir.cleanup()

    def cli_rewrite(self, model, seed, options):
        out = os.path.join(self.work, "cli.onnx")
        report = os.path.join(self.work, "cli.json")
        code, _, err = tool("rewrite", model, "-o", out, "--seed", str(seed), "--report", report, *cli_args(options))
        self.assertEqual(code, 0, err)
        with open(out, "rb") as f, open(report) as r:
            return f.read(), json.load(r), out

    def test_rewrite_writes_the_clis_bytes_and_report(self):
        for name, seed, options in CASES:
            with self.subTest(model=name, options=options):
                path = os.path.join(MODELS, name)
                cli_bytes, cli_report, cli_out = self.cli_rewrite(path, seed, options)
                model, report = onnx_reinit.rewrite(path, seed=seed, **options)
                self.assertIsInstance(model, bytes)
                self.assertEqual(model, cli_bytes)
                # Only the output's path differs: the module's output has none.
                self.assertEqual(report["output"]["path"], "<bytes>")
                cli_report["output"]["path"] = "<bytes>"
                self.assertEqual(report, cli_report)

    def test_export_weights_writes_the_clis_safetensors(self):
        path = os.path.join(MODELS, "lstm.onnx")
        cli_weights, module_weights = (os.path.join(self.work, n) for n in ("cli.safetensors", "module.safetensors"))
        self.cli_rewrite(path, 4, {"export_weights": cli_weights})
        model, report = onnx_reinit.rewrite(path, seed=4, export_weights=module_weights)
        with open(cli_weights, "rb") as c, open(module_weights, "rb") as m:
            cli_bytes, module_bytes = c.read(), m.read()
        self.assertGreater(len(cli_bytes), 8)
        self.assertEqual(module_bytes, cli_bytes)
        names = {t["name"] for t in report["export"]["tensors"]}
        self.assertIn("rnn.weight_ih_l0", names)  # the bundled model's nn.LSTM is `rnn`

    def test_path_bytes_and_modelproto_give_the_same_model(self):
        name, seed, options = CASES[0]
        path = os.path.join(MODELS, name)
        from_path, report_path = onnx_reinit.rewrite(pathlib.Path(path), seed=seed, **options)
        with open(path, "rb") as f:
            raw = f.read()
        from_bytes, report_bytes = onnx_reinit.rewrite(raw, seed=seed, **options)
        proto_in = onnx.load(path)
        from_proto, report_proto = onnx_reinit.rewrite(proto_in, seed=seed, **options)
        self.assertEqual(from_bytes, from_path)
        self.assertIsInstance(from_proto, onnx.ModelProto)
        self.assertEqual(from_proto, onnx.load_from_string(from_path))
        self.assertEqual(from_proto.SerializeToString(), from_path)
        # The reports differ only in the input's path (the module names what it was given in memory).
        self.assertEqual(report_path["input"]["path"], str(pathlib.Path(path)))
        self.assertEqual(report_bytes["input"]["path"], "<bytes>")
        self.assertEqual(report_proto["input"]["path"], "<onnx.ModelProto>")
        self.assertEqual(report_proto["output"]["path"], "<onnx.ModelProto>")
        for r in (report_bytes, report_proto):
            r["input"]["path"] = report_path["input"]["path"]
            r["output"]["path"] = report_path["output"]["path"]
        self.assertEqual(report_bytes, report_path)
        # onnx.save re-serializes; the module hashes what it was given, the CLI what is in the file.
        self.assertEqual(report_proto["input"]["sha256"], report_path["input"]["sha256"])
        self.assertEqual(report_proto, report_path)

    def test_plan_is_the_clis_json_report(self):
        for name, _, options in CASES:
            with self.subTest(model=name, options=options):
                path = os.path.join(MODELS, name)
                code, out, err = tool("plan", path, "--format", "json", *cli_args(options))
                self.assertEqual(code, 0, err)
                cli = json.loads(out)
                self.assertEqual(onnx_reinit.plan(path, **options), cli)
                with open(path, "rb") as f:
                    from_bytes = onnx_reinit.plan(f.read(), **options)
                self.assertEqual(from_bytes["input"]["path"], "<bytes>")
                from_bytes["input"]["path"] = path
                self.assertEqual(from_bytes, cli)

    def test_a_model_with_external_data_is_read_beside_its_path(self):
        model = onnx.load(os.path.join(MODELS, "mlp_relu.onnx"))
        path = os.path.join(self.work, "external", "mlp.onnx")
        os.mkdir(os.path.dirname(path))
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="mlp.weights",
                  size_threshold=0)
        self.assertTrue(os.path.exists(os.path.join(self.work, "external", "mlp.weights")))
        # The output has a data file too (out.onnx.data): the same name in two directories, so the model
        # files, which name it, can be compared byte for byte.
        for d in ("cli", "module"):
            os.mkdir(os.path.join(self.work, d))
        cli_out, module_out = (os.path.join(self.work, d, "out.onnx") for d in ("cli", "module"))
        code, _, err = tool("rewrite", path, "-o", cli_out, "--seed", "5")
        self.assertEqual(code, 0, err)
        written, report = onnx_reinit.rewrite(path, seed=5, output=pathlib.Path(module_out))
        self.assertEqual(written, module_out)
        self.assertEqual(report["output"]["path"], module_out)
        for name in ("out.onnx", "out.onnx.data"):
            with open(os.path.join(self.work, "cli", name), "rb") as a, open(os.path.join(self.work, "module", name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        self.assertGreater(report["summary"]["reinitialized"], 0)
        # Bytes cannot carry the data file: without output= it is an error that says so, and nothing is left.
        with self.assertRaises(onnx_reinit.Error) as caught:
            onnx_reinit.rewrite(path, seed=5)
        self.assertEqual(caught.exception.exit_code, 2)
        self.assertIn("give output=PATH", caught.exception.message)

    def assert_same_error(self, cli_argv, call, **kwargs):
        code, _, err = tool(*cli_argv)
        self.assertNotEqual(code, 0)
        prefix = "onnx-reinit: error: "
        self.assertTrue(err.startswith(prefix) and err.count("\n") == 1, err)
        with self.assertRaises(onnx_reinit.Error) as caught:
            call(**kwargs)
        self.assertEqual(caught.exception.exit_code, code)
        self.assertEqual(caught.exception.message, err[len(prefix):-1])
        self.assertEqual(str(caught.exception), caught.exception.message)
        return caught.exception

    def test_errors_are_the_clis_with_its_exit_codes(self):
        model = os.path.join(MODELS, "cnn_bn.onnx")
        missing = os.path.join(self.work, "missing.onnx")
        e = self.assert_same_error(["plan", missing], lambda: onnx_reinit.plan(missing))
        self.assertEqual(e.exit_code, 3)
        e = self.assert_same_error(["plan", model, "--seed", "-1"], lambda: onnx_reinit.plan(model, seed=-1))
        self.assertEqual(e.exit_code, 2)
        e = self.assert_same_error(["plan", model, "--onyl", "op=Gemm"], lambda: onnx_reinit.plan(model, onyl="op=Gemm"))
        self.assertIn("did you mean --only?", e.message)
        self.assert_same_error(["plan", model, "--tolerance", "0.3"], lambda: onnx_reinit.plan(model, tolerance=0.3))
        self.assert_same_error(["rewrite", model, "-o", os.path.join(self.work, "x.onnx"), "--only", "op=Gemmm"],
                               lambda: onnx_reinit.rewrite(model, only=["op=Gemmm"]))
        self.assertFalse(os.path.exists(os.path.join(self.work, "x.onnx")))

    def test_errors_about_bytes_name_them_as_such(self):
        with self.assertRaises(onnx_reinit.Error) as caught:
            onnx_reinit.plan(b"not a model")
        garbage = os.path.join(self.work, "garbage.onnx")
        with open(garbage, "wb") as f:
            f.write(b"not a model")
        code, _, err = tool("plan", garbage)
        self.assertEqual(caught.exception.exit_code, code)
        self.assertEqual(caught.exception.message, err[len("onnx-reinit: error: "):-1].replace(garbage, "<bytes>"))
        self.assertTrue(caught.exception.message.startswith("<bytes>"), caught.exception.message)

    def test_options_the_module_sets_itself_are_refused(self):
        model = os.path.join(MODELS, "cnn_bn.onnx")
        for key in ("report", "format", "in_place", "external_data_file"):
            with self.subTest(option=key), self.assertRaises(onnx_reinit.Error) as caught:
                onnx_reinit.rewrite(model, **{key: "x"})
            self.assertEqual(caught.exception.exit_code, 2)
            self.assertTrue(caught.exception.message.startswith(key + " is not an option here"))
        with self.assertRaises(onnx_reinit.Error) as caught:
            onnx_reinit.plan(12)
        self.assertEqual(caught.exception.exit_code, 2)

    def test_the_clis_warnings_become_python_warnings(self):
        model = os.path.join(MODELS, "mlp_relu.onnx")
        code, _, err = tool("plan", model, "--keep", "*")
        self.assertEqual(code, 0, err)
        warnings_shown = [line[len("onnx-reinit: warning: "):] for line in err.splitlines()
                          if line.startswith("onnx-reinit: warning: ")]
        self.assertEqual(len(warnings_shown), 1, err)
        with self.assertWarns(UserWarning) as caught:
            onnx_reinit.plan(model, keep=["*"])
        self.assertEqual(str(caught.warning), warnings_shown[0])

    def test_false_and_none_leave_an_option_out(self):
        model = os.path.join(MODELS, "mlp_tanh_deep.onnx")
        plain = onnx_reinit.plan(model)
        self.assertEqual(onnx_reinit.plan(model, preserve_signal=False, preset=None), plain)
        self.assertNotEqual(onnx_reinit.plan(model, preserve_signal=True), plain)

    def test_the_gil_is_released_while_the_tool_runs(self):
        # A model whose rewrite takes a while: one 2048 x 2048 Gemm weight (16 MB).
        w = numpy_helper.from_array(np.zeros((2048, 2048), np.float32), "w")
        graph = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1), helper.make_node("Relu", ["y"], ["z"])],
                                  "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2048])],
                                  [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1, 2048])], [w])
        raw = helper.make_model(graph).SerializeToString()
        started = time.perf_counter()
        onnx_reinit.rewrite(raw, threads=1)
        duration = time.perf_counter() - started
        # While another thread runs it, this one keeps running: its longest stall is far below the run.
        worker = threading.Thread(target=onnx_reinit.rewrite, args=(raw,), kwargs={"threads": 1})
        worker.start()
        longest, last = 0.0, time.perf_counter()
        while worker.is_alive():
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        worker.join()
        self.assertGreater(duration, 0.05, "the model is too small to tell")
        self.assertLess(longest, duration / 2, f"stalled {longest:.3f} s of a {duration:.3f} s run")


if __name__ == "__main__":
    unittest.main(verbosity=2)
