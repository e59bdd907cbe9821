#!/usr/bin/python3
"""End-to-end test of `onnx-reinit audit` on the zoo (models/zoo): its predicted per-layer forward_std
and backward_std against the statistics measured on the rewritten models. The zoo-sized sibling of
audit_measured.py, with the same conventions.

usage: audit_zoo.py TOOL WORKDIR [--only MODEL[,MODEL...]] [--seeds-scale X]

For each case and seed: `TOOL rewrite models/zoo/M.onnx -o M2 --seed S`, `TOOL audit M2 --report R.json
--bn inference` (ONNX Runtime runs the exported BatchNormalization in inference mode, with the running
statistics the rewrite resets to mean 0 / var 1), then M2 with every node output exposed (the batch
dimension made symbolic when the graph allows it) runs in ONNX Runtime (tests/runtime/measure_layers.js)
on i.i.d. N(0, 1) inputs. The CNN cases also run in numpy (zoo_ops.py) for the gradient at each layer's
input (unit-second-moment probes at the outputs, as backprop.py); numpy's forward pass is checked
against ORT's on every tensor of the first seed.

A layer is an audit layer (by node name); its measured pre-activation is its node's output, extended
through a sole consumer Add/Sub/Mul/Div with a constant (its bias, a per-channel scale): the value the
audit's forward_std describes. BatchNormalization is not part of it (the audit reports the conv's own
output). Stds are square roots of second moments pooled over all elements and averaged over seeds,
predicted (forward_std^2) and measured alike.

Checks (each failure prints a line; exit status 1 if any):
- forward: every layer (the head included) within FORWARD_TOL of the measured std, the tolerance
  widened to NOISE_SIGMAS standard errors of the seed average where the seeds disagree (marked *:
  the tiny zoo widths, 4 to 16 channels, make single realizations stray far from the expectation).
- backward (cases with np_batch): the audit's backward_std is what the layer alone sends back to its
  input (W^T g); that share is measured (the `bwd tot` column gives the input tensor's whole gradient
  where other consumers, a residual skip, add to it). Checked against BACKWARD_TOL (same widening)
  for the cases in BACKWARD_CHECKED, reported for the others.
- numpy against ORT: every tensor's second moment of the first seed within CROSS_CHECK_TOL, and
  zoo_ops' gradient against finite differences.
Runtime: ~16 s CPU (~27 s wall on 2 busy cores).
The `via` column lists the ops between a layer and the layers feeding it (ops whose rule is
approximate are the first suspects for a failing layer); see docs/audit.md and the NOTES below.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import namedtuple

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import backprop  # noqa: E402
import expose_outputs  # noqa: E402
import zoo_ops  # noqa: E402

ZOO = os.path.join(HERE, "..", "..", "models", "zoo")
MEASURE_JS = os.path.join(HERE, "..", "runtime", "measure_layers.js")
INPUT_STD = 1.0
INPUT_SEED = 1
FORWARD_TOL = 0.25
BACKWARD_TOL = 0.25
NOISE_SIGMAS = 3.0
CROSS_CHECK_TOL = 1e-3
GRADIENT_CHECK_TOL = 1e-4

# model: zoo name; family: what the issue calls it; seeds: rewrites averaged; batch: ORT batch (the
# exported batch is 1; symbolic: made a free dimension, else the graph's Reshape targets pin it and
# the batch stays 1); np_batch: numpy backward pass batch (None: forward only). Seeds: enough that the
# seed average's noise is below the tolerance where the models are narrowest (ResNet's 4-channel
# bottleneck, DenseNet's and ShuffleNet's heads): with 24, 12 and 6 seeds those three failed on noise
# alone (ResNet's head +29% with 24 seeds, +11% with 72).
Case = namedtuple("Case", "model family seeds batch symbolic np_batch")
CASES = [
    Case("resnet_tiny", "ResNet", 72, 8, True, 8),
    Case("resnet_tiny_bn_folded", "ResNet", 24, 8, True, 8),
    Case("densenet_tiny", "DenseNet", 36, 8, True, 8),
    Case("mobilenet_v2_tiny", "MobileNet", 16, 8, True, 8),
    Case("mobilenet_v3_tiny", "MobileNet", 12, 8, True, 8),
    Case("vit_tiny", "ViT", 12, 1, False, None),
    Case("convnext_tiny", "other", 6, 8, True, None),
    Case("efficientnet_tiny", "other", 8, 8, True, 8),
    Case("regnet_tiny", "other", 8, 8, True, 8),
    Case("vgg_bn_tiny", "other", 6, 8, True, 8),
    Case("shufflenet_tiny", "other", 18, 1, False, None),
]
# Backward is checked where the rules hold today (the others: see the notes below and the table).
BACKWARD_CHECKED = {"resnet_tiny", "resnet_tiny_bn_folded", "mobilenet_v2_tiny", "regnet_tiny"}

# Ops the `via` column leaves out: exact rules or no signal.
QUIET_OPS = {"Relu", "BatchNormalization", "Identity", "Constant", "Flatten", "Reshape", "Transpose", "Unsqueeze",
             "Squeeze", "Shape", "Gather", "Slice", "Expand", "Where", "Equal", "ConstantOfShape", "Cast"}

# Where a rule is known to be approximate on these models (printed beside a failing layer whose
# `via` has the op; layers further down inherit the error without it). Measured with this script:
# - MaxPool: passed through as identity, but the max of K window taps of N(m, v) has mean m + sqrt(v) mu_K
#   and variance v sigma_K^2 (K = 9: mu 1.485, sigma^2 0.357): the next layer's q is 2-5x the
#   prediction (densenet, shufflenet, vgg: -45..-60% in std). Backward: the gradient only reaches
#   window maxima, where ReLU' = 1, not the E[ReLU'^2] = 1/2 of all positions (densenet conv0 -53%).
# - GlobalAveragePool, attention averaging: the average over P positions (tokens) keeps m^2 plus the
#   part s of the variance that is the same at every position (per-channel offsets: n E[w^2] m_x^2
#   per layer), not the whole q (identity, GAP) nor var / L (attention): heads after GAP +30..+90%,
#   squeeze-excitation fc1 +60..+170%, ViT layer-1 out_proj -37% once shapes are known.
# - attention: without ONNX data propagation the Reshape targets built from Constant/Unsqueeze/Concat
#   leave the keys axis unknown; MatMul(P, V) is passed through (ViT out_proj +130..+260%).
# - ReLU6 (Clip) after a depthwise conv: fan-in 9 makes per-channel variances heavy-tailed
#   (kurtosis ~11); the clip at 6 removes ~20% of q where a Gaussian of the same q loses <1%
#   (mobilenet_v2 +20..+55% downstream under mean field; within tolerance, 23.6% at most, since the
#   audit's finite-width correction averages the clip over the spread of each position's variance).
#   SiLU at small scale errs the other way (efficientnet).
# - squeeze-excitation backward: the gate's gradient sums over the H*W positions it is broadcast to
#   (Mul of two computed values: g_gate = q_x g_y is missing the factor H*W, -90..-97%).
# - Concat then an elementwise op: the parts were lifted to one Gaussian of their pooled moments, so
#   ReLU cut a positive part (a MaxPool output) and a centred one alike (densenet forward +8% per
#   concatenation, backward +20..+30%). Now each part goes through on its own (signal.cc, Part), as a
#   Gaussian of its own moments: densenet within 13% forward, 4% backward after conv0.
NOTES = {
    "MaxPool": "MaxPool passed as identity: the max of K taps raises q (K=9: x2.6 for N(0, v))",
    "GlobalAveragePool": "GlobalAveragePool passed as identity: keeps m^2 + position-shared variance only",
    "Softmax": "attention: keys axis unknown without data propagation, or position-shared part of V",
    "Clip": "ReLU6 after a depthwise conv: heavy-tailed channel variances, the clip at 6 cuts more "
            "(the finite-width correction's log-normal spread may be too light)",
}

Prepared = namedtuple("Prepared", "names ops via preacts fwd_pred bwd_pred bwd_meas exposed cross")


class Failure(Exception):
    pass


def cpu_seconds():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(cmd, what):
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise Failure("%s exited %d: %s" % (what, done.returncode, last))


def constants_of(graph):
    """Initializers, Constant outputs and Identity copies of them (the exporter's tied biases)."""
    names = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" or (node.op_type == "Identity" and node.input[0] in names):
            names.update(node.output)
    return names


def layer_tensors(model, layers):
    """Per audit layer (by name): its pre-activation tensor, the index of its signal input, the ops
    between it and the layers feeding it."""
    graph = model.graph
    consts = constants_of(graph)
    consumers, producer = {}, {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node
    by_name = {n.name: n for n in graph.node}
    preacts, inputs = {}, {}
    for layer in layers:
        node = by_name.get(layer["name"])
        if node is None:
            raise Failure("the audit's layer %s is no node of the model" % layer["name"])
        t = node.output[0]
        while True:
            users = consumers.get(t, [])
            if (len(users) == 1 and users[0].op_type in ("Add", "Sub", "Mul", "Div")
                    and sum(i in consts for i in users[0].input) == 1):
                t = users[0].output[0]
            else:
                break
        preacts[layer["name"]] = t
        signal = [k for k, i in enumerate(node.input) if i and i not in consts and i != layer.get("weight")]
        inputs[layer["name"]] = signal[0] if signal else 0
    stops = set(preacts.values()) | {o for n in by_name.values() if n.name in preacts for o in n.output}
    via = {}
    for name, index in inputs.items():
        ops, seen, todo = set(), set(), [by_name[name].input[index]]
        while todo:
            t = todo.pop()
            if t in seen or t in stops or t in consts or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            ops.add(node.op_type)
            todo += [i for i in node.input if i]
        via[name] = sorted(ops - QUIET_OPS)
    return preacts, inputs, via


def make_batch_symbolic(model):
    inits = {t.name for t in model.graph.initializer}
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name not in inits and value.type.tensor_type.shape.dim:
            value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]
    return model


def prepare(case, tool, workdir, clock):
    """Rewrites, audits (and for np_batch cases measures the backward pass of) every seed."""
    source = os.path.join(ZOO, case.model + ".onnx")
    runs = []
    for seed in range(1, case.seeds + 1):
        rewritten = os.path.join(workdir, "%s.s%d.onnx" % (case.model, seed))
        t = time.perf_counter()
        run([tool, "rewrite", source, "-o", rewritten, "--seed", str(seed), "-q"], "rewrite " + case.model)
        report = rewritten.replace(".onnx", ".audit.json")
        run([tool, "audit", rewritten, "--report", report, "--bn", "inference", "--input-std", str(INPUT_STD)],
            "audit " + case.model)
        clock["tool"] = clock.get("tool", 0) + time.perf_counter() - t
        with open(report) as f:
            layers = json.load(f)["audit"]["layers"]
        model = onnx.load(rewritten)
        preacts, inputs, via = layer_tensors(model, layers)
        names = [l["name"] for l in layers]
        if case.symbolic:
            make_batch_symbolic(model)
        backward, cross = None, None
        if case.np_batch:
            t = time.perf_counter()
            graph = backprop.Graph(model)
            values, grads = zoo_ops.measure(graph, case.np_batch, INPUT_SEED, INPUT_STD, seed, inputs)
            backward = [grads[n] for n in names]
            if seed == 1:
                cross = ({k: float(np.mean(np.square(v, dtype=np.float64))) for k, v in values.items()
                          if v.dtype == np.float32 and k not in graph.constants}, zoo_ops.gradient_check(graph))
            clock["numpy"] = clock.get("numpy", 0) + time.perf_counter() - t
        exposed = rewritten.replace(".onnx", ".exposed.onnx")
        onnx.save(expose_outputs.expose(model), exposed)
        os.remove(rewritten)
        runs.append(Prepared(names, [l["op"] for l in layers], via, preacts, [l["forward_std"] ** 2 for l in layers],
                             [l["backward_std"] ** 2 for l in layers], backward, exposed, cross))
    return runs


def measure_ort(jobs, clock):
    """measure_layers.js once per batch size over every (exposed model, batch); the parsed outputs."""
    t = time.perf_counter()
    results = {}
    for batch in sorted({b for _, b in jobs}):
        pairs = [(m, m.replace(".onnx", ".ort.json")) for m, b in jobs if b == batch]
        run(["node", MEASURE_JS] + [p for pair in pairs for p in pair] + [
            "--batch", str(batch), "--seed", str(INPUT_SEED), "--input-std", str(INPUT_STD)], "measure_layers.js")
        for model, out in pairs:
            with open(out) as f:
                results[model] = json.load(f)
            os.remove(model)
            os.remove(out)
    clock["ORT"] = clock.get("ORT", 0) + time.perf_counter() - t
    return results


def relative_se(samples):
    s = np.asarray(samples, dtype=float)
    return 0.0 if len(s) < 2 or s.mean() <= 0 else float(0.5 * s.std(ddof=1) / s.mean() / math.sqrt(len(s)))


def short(name, width=44):
    return name if len(name) <= width else "…" + name[-(width - 1):]


def evaluate(case, runs, ort):
    """Prints the case's table; returns (failures, summary row)."""
    failures = []
    first = runs[0]
    names = first.names
    if any(r.names != names for r in runs):
        raise Failure("%s: the audit's layers differ between seeds" % case.model)
    if first.cross:
        moments, grad_err = first.cross
        measured = ort[first.exposed]
        worst, where = max((abs(moments[k] - s["second_moment"]) / max(s["second_moment"], 1e-30), k)
                           for k, s in measured.items() if k in moments)
        if worst > CROSS_CHECK_TOL:
            failures.append("%s: numpy forward differs from ORT by %.2g at %s" % (case.model, worst, where))
        if grad_err > GRADIENT_CHECK_TOL:
            failures.append("%s: zoo_ops gradient differs from finite differences by %.2g" % (case.model, grad_err))
    fwd_meas = np.array([[ort[r.exposed][r.preacts[n]]["second_moment"] for n in names] for r in runs])
    fwd_pred = np.array([r.fwd_pred for r in runs])
    has_bwd = first.bwd_meas is not None
    if has_bwd:
        bwd_meas, bwd_pred = np.array([r.bwd_meas for r in runs]), np.array([r.bwd_pred for r in runs])
    print("\n== %s (%s), %d seeds, ORT batch %d%s ==" % (
        case.model, case.family, len(runs), case.batch, ", numpy batch %d" % case.np_batch if has_bwd else ""))
    print("%-44s %-6s %8s %8s %7s %5s | %8s %8s %7s %8s | %s" % (
        "layer", "op", "fwd pred", "fwd meas", "err", "tol", "bwd pred", "bwd meas", "err", "bwd tot", "via"))
    errs = {"forward": [], "backward": []}
    for i, name in enumerate(names):
        p, m = math.sqrt(fwd_pred[:, i].mean()), math.sqrt(fwd_meas[:, i].mean())
        err = p / m - 1
        tol = max(FORWARD_TOL, NOISE_SIGMAS * relative_se(fwd_meas[:, i]))
        errs["forward"].append(abs(err))
        why = [NOTES[o] for o in first.via[name] if o in NOTES]
        if abs(err) > tol:
            failures.append("%s %s: forward std predicted %.4g, measured %.4g (%+.1f%%, tolerance %.0f%%)%s" % (
                case.model, name, p, m, 100 * err, 100 * tol, " [%s]" % "; ".join(why) if why else ""))
        bcells = "%8s %8s %7s %8s" % ("-", "-", "-", "-")
        if has_bwd:
            bp, bm = math.sqrt(bwd_pred[:, i].mean()), math.sqrt(bwd_meas[:, i, 0].mean())
            total = math.sqrt(bwd_meas[:, i, 1].mean())
            berr = bp / bm - 1
            btol = max(BACKWARD_TOL, NOISE_SIGMAS * relative_se(bwd_meas[:, i, 0]))
            errs["backward"].append(abs(berr))
            bcells = "%8.4g %8.4g %+6.1f%% %8s" % (bp, bm, 100 * berr, "%.4g" % total if total > 1.005 * bm else "=")
            if case.model in BACKWARD_CHECKED and abs(berr) > btol:
                failures.append("%s %s: backward std predicted %.4g, measured %.4g (%+.1f%%, tolerance %.0f%%)" % (
                    case.model, name, bp, bm, 100 * berr, 100 * btol))
        print("%-44s %-6s %8.4g %8.4g %+6.1f%% %4.0f%%%s | %s | %s" % (
            short(name), first.ops[i][:6], p, m, 100 * err, 100 * tol, "*" if tol > FORWARD_TOL else " ", bcells,
            ",".join(first.via[name]) or "-"))
    return failures, errs


def stat(values):
    return ("%5.1f%% %5.1f%%" % (100 * max(values), 100 * float(np.median(values)))) if values else "    -      -"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tool")
    parser.add_argument("workdir")
    parser.add_argument("--only", help="comma-separated zoo models (default: every case)")
    parser.add_argument("--seeds-scale", type=float, default=1.0, help="multiply every case's seed count")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    cases = [c for c in CASES if not args.only or c.model in args.only.split(",")]
    cases = [c._replace(seeds=max(2, int(round(c.seeds * args.seeds_scale)))) for c in cases]
    clock, wall = {}, time.perf_counter()
    failures, prepared = [], {}
    for case in cases:
        try:
            prepared[case.model] = prepare(case, args.tool, args.workdir, clock)
        except Failure as e:
            failures.append("%s: %s" % (case.model, e))
    try:
        ort = measure_ort([(r.exposed, c.batch) for c in cases if c.model in prepared
                           for r in prepared[c.model]], clock)
    except Failure as e:
        failures.append(str(e))
        ort = None
    rows = []
    for case in cases:
        if ort is None or case.model not in prepared:
            continue
        case_failures, errs = evaluate(case, prepared[case.model], ort)
        failures += case_failures
        rows.append("%-22s %-9s %6d %5d  %s  %s  %s" % (
            case.model, case.family, len(prepared[case.model][0].names), case.seeds, stat(errs["forward"]),
            stat(errs["backward"]), "FAIL" if case_failures else "ok"))
    print("\n%-22s %-9s %6s %5s  %13s  %13s  %s" % ("model", "family", "layers", "seeds", "fwd max  med",
                                                    "bwd max  med", "forward check"))
    print("\n".join(rows))
    print("\ntime: %.1f s wall, %.1f s CPU (tool %.1f s, numpy %.1f s, ORT %.1f s wall)" % (
        time.perf_counter() - wall, cpu_seconds(), clock.get("tool", 0), clock.get("numpy", 0), clock.get("ORT", 0)))
    for f in failures:
        print("FAIL: " + f)
    if failures:
        more = " (and %d more)" % (len(failures) - 1) if len(failures) > 1 else ""
        print("audit_zoo: FAILED: %s%s" % (failures[0], more))
        sys.exit(1)
    print("audit_zoo: all checks passed")


if __name__ == "__main__":
    main()
