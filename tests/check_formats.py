#!/usr/bin/python3
"""check --format junit and --format github, read the way CI systems read them: the JUnit XML parsed with
a real XML parser (xml.etree), the workflow commands split and unescaped by GitHub's rules. Both must say
exactly what the JSON report of the same check says (one testcase per checked tensor, a failure or an
::error for exactly the tensors it calls off, with its figures), and escape names that would break them.

The models: bundled ones rewritten by the tool (all ok), then spoiled with numpy: a weight scaled by 3
(its std is off), an LSTM's recurrent weight with its entries shuffled (same std, no longer orthogonal),
and a weight renamed to something full of markup and escape characters.

usage: check_formats.py TOOL MODELS_DIR
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
import onnx
from onnx import numpy_helper

TOOL, MODELS = sys.argv[1], sys.argv[2]
failures = []


def expect(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    proc = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def spoil(src, dst, change):
    """Writes src with change(model) applied to dst."""
    model = onnx.load(src)
    change(model)
    onnx.save(model, dst)


def initializer(model, name):
    return next(t for t in model.graph.initializer if t.name == name)


def scale(name, factor):
    def change(model):
        t = initializer(model, name)
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(factor), name))
    return change


def shuffle(name):
    def change(model):
        t = initializer(model, name)
        values = numpy_helper.to_array(t)
        shuffled = np.random.default_rng(1).permutation(values.ravel()).reshape(values.shape)
        t.CopyFrom(numpy_helper.from_array(shuffled, name))
    return change


def rename(old, new):
    def change(model):
        initializer(model, old).name = new
        for node in model.graph.node:
            node.input[:] = [new if i == old else i for i in node.input]
    return change


def both(*changes):
    def change(model):
        for c in changes:
            c(model)
    return change


# GitHub's workflow-command escapes, undone (@actions/core: escapeData, escapeProperty).
def unescape(text):
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: {"25": "%", "0D": "\r", "0A": "\n", "3A": ":", "2C": ","}[m.group(1)], text)


def parse_command(line):
    """'::error file=a,title=b::message' -> ('error', {'file': 'a', 'title': 'b'}, 'message'), unescaped."""
    m = re.fullmatch(r"::(\w+) ([^:]*)::(.*)", line)
    if not m:
        return None
    props = dict(p.split("=", 1) for p in m.group(2).split(","))
    return m.group(1), {k: unescape(v) for k, v in props.items()}, unescape(m.group(3))


def figures(message):
    """The numbers of 'measured std X, target Y (ratio R, allowed ±A)'."""
    m = re.match(r"measured std (\S+), target (\S+) \(ratio (\S+), allowed ±(\S+)\)", message)
    return [float(x) for x in m.groups()] if m else None


def close(shown, exact):
    """A number printed to 4 significant digits against the report's full one."""
    return abs(shown - exact) <= 5e-4 * abs(exact)


def check_model(path, label, expect_off, expect_orthogonality=()):
    code_json, out_json, err = run("check", path, "--format", "json")
    expect(code_json == (6 if expect_off else 0), f"{label}: check --format json exits {code_json}: {err}")
    report = json.loads(out_json)
    layers = report["layers"]
    off = {layer["name"] for layer in layers if layer["verdict"] == "off"}
    expect(off == set(expect_off), f"{label}: the report calls {sorted(off)} off, expected {sorted(expect_off)}")

    # JUnit: one suite, one testcase per checked tensor in the report's order, failures exactly for `off`.
    code, out, err = run("check", path, "--format", "junit")
    expect(code == code_json, f"{label}: junit exits {code}, json {code_json}")
    root = ET.fromstring(out.encode())
    suites = root.findall("testsuite")
    expect(root.tag == "testsuites" and len(suites) == 1, f"{label}: not one <testsuite> in <testsuites>")
    suite = suites[0]
    expect(suite.get("name") == path, f"{label}: suite named {suite.get('name')!r}, not the model")
    expect(int(suite.get("tests")) == len(layers) and int(suite.get("failures")) == len(off),
           f"{label}: suite counts tests={suite.get('tests')} failures={suite.get('failures')}")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    version = run("--version")[1].split()[-1]
    expect(props.get("version") == version, f"{label}: version property {props.get('version')} != {version}")
    with open(path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    expect(props.get("sha256") == sha256, f"{label}: sha256 property {props.get('sha256')!r}")
    expect(props.get("preset") == report["policy"]["name"] and props.get("tolerance") == "0.25",
           f"{label}: preset and tolerance properties {props}")
    cases = suite.findall("testcase")
    expect([c.get("name") for c in cases] == [layer["name"] for layer in layers],
           f"{label}: testcase names {[c.get('name') for c in cases]} are not the checked tensors")
    for case, layer in zip(cases, layers):
        expect(case.get("classname") == path, f"{label}: classname {case.get('classname')!r}")
        failure = case.findall("failure")
        expect(len(failure) == (layer["verdict"] == "off"), f"{label}: {layer['name']}: {len(failure)} failures")
        if failure:
            message = failure[0].get("message")
            shown = figures(message)
            exact = [layer[k] for k in ("measured_std", "target_std", "ratio", "allowed_deviation")]
            expect(shown is not None and all(close(s, e) for s, e in zip(shown, exact)),
                   f"{label}: {layer['name']}: failure message {message!r} does not show {exact}")
            says_orthogonality = "orthogonality error" in message
            expect(says_orthogonality == (layer["name"] in expect_orthogonality),
                   f"{label}: {layer['name']}: orthogonality in message: {says_orthogonality}")
            if says_orthogonality:
                shown_error = float(re.search(r"orthogonality error (\S+) >", message).group(1))
                expect(close(shown_error, layer["orthogonality_error"]), f"{label}: orthogonality error {message!r}")

    # GitHub: an ::error per tensor that is off, in order, then one summary line.
    code, out, err = run("check", path, "--format", "github")
    expect(code == code_json, f"{label}: github exits {code}, json {code_json}")
    lines = out.splitlines()
    commands = [parse_command(line) for line in lines]
    expect(all(commands), f"{label}: a line that is not a workflow command: {lines}")
    if not all(commands):
        return
    expect(len(lines) == len(off) + 1, f"{label}: {len(lines)} lines for {len(off)} off tensors")
    per_tensor, summary = commands[:-1], commands[-1]
    expect([c[0] for c in per_tensor] == ["error"] * len(off), f"{label}: per-tensor commands {per_tensor}")
    expect([c[2].split(": measured std ")[0] for c in per_tensor] == [l["name"] for l in layers if l["verdict"] == "off"],
           f"{label}: ::error lines name {[c[2] for c in per_tensor]}")
    for kind, props, message in commands:
        expect(props == {"file": path, "title": "onnx-reinit check"}, f"{label}: properties {props}")
    expect(summary[0] == ("error" if off else "notice"), f"{label}: summary is ::{summary[0]}")
    expect(summary[2].startswith(path + ": ") and
           (f"{len(off)} of {len(layers)} tensors off" if off else f"all {len(layers)} tensors within") in summary[2]
           and summary[2].endswith(f"(tolerance 0.25, preset {report['policy']['name']})"),
           f"{label}: summary {summary[2]!r}")
    # -q: nothing when all is ok, the same lines when something is off.
    quiet = run("check", path, "--format", "github", "-q")[1]
    expect(quiet == ("" if not off else out), f"{label}: github -q printed {quiet!r}")
    return out


with tempfile.TemporaryDirectory() as work:
    # A directory name with ',' and ':' (they end a property unless escaped) and '%'.
    work = os.path.join(work, "ci,run:1%")
    os.mkdir(work)
    fresh = os.path.join(work, "cnn.onnx")
    code, _, err = run("rewrite", os.path.join(MODELS, "cnn_bn.onnx"), "-o", fresh, "--seed", "3", "-q")
    expect(code == 0, "rewrite cnn_bn: " + err)
    check_model(fresh, "fresh cnn", [])

    off = os.path.join(work, "off.onnx")
    spoil(fresh, off, scale("features.0.weight", 3))
    check_model(off, "scaled cnn", ["features.0.weight"])

    # A name full of what XML and workflow commands must escape.
    odd = 'head<&">\'%\n,:.weight'
    marked = os.path.join(work, "marked.onnx")
    spoil(fresh, marked, both(scale("head.weight", 0.2), rename("head.weight", odd)))
    out = check_model(marked, "escaped name", [odd])
    # In the message only %, CR and LF are escaped (the line count above fails if the newline is not).
    expect(out is not None and "::head<&\">'%25%0A,:.weight: measured std" in out, "github: the odd name is not escaped as expected")
    junit = run("check", marked, "--format", "junit")[1]
    expect('name="head&lt;&amp;&quot;&gt;&apos;%&#10;,:.weight"' in junit, "junit: the odd name is not escaped as expected")

    # An LSTM whose recurrent weight keeps its std but is no longer orthogonal.
    lstm = os.path.join(work, "lstm.onnx")
    code, _, err = run("rewrite", os.path.join(MODELS, "lstm.onnx"), "-o", lstm, "-q")
    expect(code == 0, "rewrite lstm: " + err)
    shuffled = os.path.join(work, "lstm_shuffled.onnx")
    spoil(lstm, shuffled, shuffle("onnx::LSTM_118"))
    check_model(shuffled, "shuffled lstm", ["onnx::LSTM_118"], expect_orthogonality=["onnx::LSTM_118"])

    # Only check has these formats; elsewhere a usage error, exit 2, as for any bad option.
    for command in ("plan", "audit"):
        for fmt in ("junit", "github"):
            code, out, err = run(command, fresh, "--format", fmt)
            expect(code == 2 and err == f"onnx-reinit: error: --format {fmt} is a format of check, not of {command} "
                                       "(see --help)\n" and out == "", f"{command} --format {fmt}: {code} {err!r}")
    code, _, err = run("check", fresh, "--format", "yaml")
    expect(code == 2 and "--format must be text, json, markdown, junit or github, not 'yaml'" in err, "check --format yaml: " + err)

if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("check formats: junit and github agree with the JSON report")
