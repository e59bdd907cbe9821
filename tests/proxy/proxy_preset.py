#!/usr/bin/python3
"""rewrite --preset proxy on a model whose channels have spread statistics: each re-initialized tensor's
per-channel mean and std match its source's within standard errors, the values changed, everything else
(running statistics, quantized and integer tensors, constants) is byte for byte the same, the same seed
gives the same bytes whatever --threads and wherever the bytes were (inline or external data), the
report says what each tensor was drawn from, and ONNX Runtime runs the proxy with outputs in the same
order of magnitude as the original's. check --preset proxy is a usage error.

usage: proxy_preset.py TOOL WORK_DIR RUNTIME_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
Z = 4.5  # standard errors allowed per channel (about 100 channels are checked)


def spread(shape, axis, mean_range, std_range):
    """A weight whose channels along `axis` have means and stds spread over the given ranges."""
    c = shape[axis]
    means = np.linspace(*mean_range, c)
    stds = np.geomspace(*std_range, c)
    moved = [shape[axis]] + [d for i, d in enumerate(shape) if i != axis]
    w = rng.standard_normal(moved) * stds.reshape([c] + [1] * (len(shape) - 1)) + means.reshape([c] + [1] * (len(shape) - 1))
    return np.moveaxis(w, 0, axis).astype(np.float32)


def build():
    """Conv + BatchNorm + ReLU, pooling, Gemm (transB=1), MatMul + bias, an LSTM, a float16 MatMul, a
    quantized MatMul; a Reshape shape and a scalar constant that are no parameters."""
    inits = {}
    inits["conv.w"] = spread([32, 8, 3, 3], 0, (-0.3, 0.3), (0.05, 0.5))
    inits["conv.b"] = rng.normal(0.1, 0.2, 32).astype(np.float32)
    s = inits["conv.w"].reshape(32, -1)
    # Running statistics of the conv's output for inputs U(-1, 1) (E[x] = 0, E[x^2] = 1/3).
    inits["bn.scale"] = rng.normal(1.0, 0.3, 32).astype(np.float32)
    inits["bn.bias"] = rng.normal(0.0, 0.2, 32).astype(np.float32)
    inits["bn.mean"] = inits["conv.b"].copy()
    inits["bn.var"] = ((s ** 2).sum(axis=1) / 3).astype(np.float32)
    inits["fc.w"] = spread([64, 32], 0, (-0.2, 0.2), (0.02, 0.4))          # Gemm transB=1: [N, K]
    inits["fc.b"] = rng.normal(0.0, 0.1, 64).astype(np.float32)
    inits["mm.w"] = spread([64, 48], 1, (-0.1, 0.1), (0.03, 0.3))          # MatMul: [K, N]
    inits["mm.b"] = rng.normal(0.0, 0.1, 48).astype(np.float32)
    H = 8
    inits["lstm.W"] = spread([1, 4 * H, 48], 1, (-0.1, 0.1), (0.05, 0.3))
    inits["lstm.R"] = spread([1, 4 * H, H], 1, (-0.1, 0.1), (0.05, 0.3))
    b = rng.normal(0.0, 0.05, (1, 8 * H))
    b[0, H:2 * H] += 1.0  # the forget gate's Wb block: a trained LSTM's forget bias
    inits["lstm.B"] = b.astype(np.float32)
    inits["half.w"] = spread([8, 24], 1, (-0.2, 0.2), (0.05, 0.5)).astype(np.float16)
    inits["q.w"] = rng.integers(-100, 100, (32, 16)).astype(np.int8)
    inits["q.scale"] = np.array(0.01, np.float32)
    inits["q.zero"] = np.array(0, np.int8)
    inits["shape"] = np.array([-1, 1, 48], np.int64)
    inits["half_scale"] = np.array(0.5, np.float32)

    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["pooled"]),
        helper.make_node("Gemm", ["pooled", "fc.w", "fc.b"], ["g"], transB=1),
        helper.make_node("Relu", ["g"], ["gr"]),
        helper.make_node("MatMul", ["gr", "mm.w"], ["m"]),
        helper.make_node("Add", ["m", "mm.b"], ["dense"]),
        helper.make_node("Reshape", ["dense", "shape"], ["seq"]),
        helper.make_node("LSTM", ["seq", "lstm.W", "lstm.R", "lstm.B"], ["", "h"], hidden_size=H),
        helper.make_node("Flatten", ["h"], ["hf"]),
        helper.make_node("Cast", ["hf"], ["h16"], to=TensorProto.FLOAT16),
        helper.make_node("MatMul", ["h16", "half.w"], ["o16"]),
        helper.make_node("Cast", ["o16"], ["o32"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["o32", "half_scale"], ["out"]),
        helper.make_node("DequantizeLinear", ["q.w", "q.scale", "q.zero"], ["qw"]),
        helper.make_node("MatMul", ["pooled", "qw"], ["quant"]),
    ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)
               for n, shape in (("pooled", ["N", 32]), ("dense", ["N", 48]), ("out", [1, 24]), ("quant", ["N", 16]))]
    graph = helper.make_graph(nodes, "proxy_test", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 6, 6])],
                              outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def arrays(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def raw(path):
    return {t.name: numpy_helper.to_array(t).tobytes() for t in onnx.load(path).graph.initializer}


# The channels of each proxied tensor as the tool should read them: (name, axis) with the channel axis
# moved to the front; None: per tensor. LSTM B: one channel per H-block.
CHANNELS = {"conv.w": 0, "fc.w": 0, "mm.w": 1, "half.w": 1, "lstm.W": 1, "lstm.R": 1,
            "conv.b": None, "bn.scale": None, "bn.bias": None, "fc.b": None, "mm.b": None, "lstm.B": "blocks"}


def by_channel(name, a):
    how = CHANNELS[name]
    a = a.astype(np.float64)
    if how is None:
        return a.reshape(1, -1)
    if how == "blocks":
        return a.reshape(-1, 8)
    return np.moveaxis(a, how, 0).reshape(a.shape[how], -1)


def main():
    tool, work, runtime = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "proxy_src.onnx")
    model = build()
    onnx.save(model, src)
    failures = []

    def expect(ok, what):
        if not ok:
            failures.append(what)
            print("FAILED  " + what)

    def rewrite(inp, out, *extra):
        report = out + ".json"
        r = subprocess.run([tool, "rewrite", inp, "-o", out, "--preset", "proxy", "--seed", "3", "--report", report, *extra],
                           capture_output=True, text=True)
        expect(r.returncode == 0, "rewrite %s exited %d: %s" % (inp, r.returncode, r.stderr.strip()))
        return r

    out = os.path.join(work, "proxy_out.onnx")
    run = rewrite(src, out, "--threads", "1")
    before, after = arrays(src), arrays(out)
    before_raw, after_raw = raw(src), raw(out)

    # Each proxied tensor, channel by channel: the mean within Z standard errors of the source channel's
    # (s / sqrt(n)), the std within Z standard errors of a sample std (s / sqrt(2 n)), and over all
    # channels of a tensor the squared z-scores of the means add up like chi-square with C degrees of
    # freedom (mean C, std sqrt(2 C)). float16 adds its rounding (relative 2^-11) to the tolerance.
    for name, how in CHANNELS.items():
        src_c, new_c = by_channel(name, before[name]), by_channel(name, after[name])
        n = src_c.shape[1]
        m0, s0 = src_c.mean(axis=1), src_c.std(axis=1)
        m1, s1 = new_c.mean(axis=1), new_c.std(axis=1)
        rounding = 2.0 ** -11 * np.abs(src_c).max() if before[name].dtype == np.float16 else 1e-6
        se_mean = s0 / np.sqrt(n) + rounding
        se_std = s0 / np.sqrt(2 * n) + rounding
        worst_mean = np.max(np.abs(m1 - m0) / se_mean)
        worst_std = np.max(np.abs(s1 - s0) / se_std)
        expect(worst_mean <= Z, "%s: a channel's mean is %.1f standard errors off" % (name, worst_mean))
        expect(worst_std <= Z, "%s: a channel's std is %.1f standard errors off" % (name, worst_std))
        chi2, c = float(np.sum(((m1 - m0) / se_mean) ** 2)), len(m0)
        if c >= 8:
            expect(chi2 <= c + Z * np.sqrt(2 * c), "%s: sum of squared mean z-scores %.1f for %d channels" % (name, chi2, c))
        changed = np.mean(before[name] != after[name])
        expect(changed > 0.99, "%s: only %.1f%% of the values changed" % (name, 100 * changed))
        expect(after[name].dtype == before[name].dtype, "%s: dtype changed" % name)
        print("ok      %-9s %3d channels of %3d: worst mean %.2f SE, worst std %.2f SE" % (name, c, n, worst_mean, worst_std))

    # The LSTM's forget-gate bias stays a forget-gate bias (its own channel).
    forget = after["lstm.B"][0, 8:16]
    expect(abs(forget.mean() - 1.0) < 0.2, "lstm.B: the forget-gate block's mean is %.3f, not about 1" % forget.mean())

    # Kept bit for bit: running statistics (the rule), quantized, integer and scalar non-parameters.
    for name in ("bn.mean", "bn.var", "q.w", "q.scale", "q.zero", "shape", "half_scale"):
        expect(before_raw[name] == after_raw[name], "%s: bytes changed" % name)
    expect(set(before) == set(after), "the initializers are not the same set")

    # The report: every proxied row shows its source statistics, which are the source's.
    with open(out + ".json") as f:
        report = json.load(f)
    rows = {e["name"]: e for e in report["tensors"]}
    for name, how in CHANNELS.items():
        e = rows[name]
        src_c = by_channel(name, before[name])
        ok = e["scheme"] == "proxy" and e["proxy_source"] is not None
        expect(ok, "%s: the report has no proxy_source" % name)
        if ok:
            ps = e["proxy_source"]
            same = (len(ps["mean"]) == len(ps["std"]) == src_c.shape[0] and np.allclose(ps["mean"], src_c.mean(axis=1), atol=1e-6)
                    and np.allclose(ps["std"], src_c.std(axis=1), atol=1e-6))
            expect(same, "%s: proxy_source is not the source's per-channel mean and std" % name)
            expect("own values" in e["reason"], "%s: the reason does not say what it was drawn from" % name)
    for name in ("bn.mean", "bn.var", "q.w"):
        expect(rows[name]["action"] == "kept" and rows[name]["proxy_source"] is None, "%s: not kept" % name)
    expect("from its own mean/std" in run.stdout, "the table does not say what proxied rows were drawn from")

    # The same bytes whatever --threads, and from a model whose weights are in external data (read and
    # written a block at a time).
    out4 = os.path.join(work, "proxy_out_t4.onnx")
    rewrite(src, out4, "--threads", "4")
    expect(raw(out4) == after_raw, "--threads 4 gives other bytes than --threads 1")
    ext_dir = os.path.join(work, "ext")
    os.makedirs(ext_dir, exist_ok=True)
    ext_src = os.path.join(ext_dir, "proxy_src_ext.onnx")
    onnx.save(model, ext_src, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    ext_out = os.path.join(ext_dir, "proxy_out_ext.onnx")
    rewrite(ext_src, ext_out)
    expect(os.path.exists(ext_out) and raw(ext_out) == after_raw,
           "a model with external data gives other values than the same model inline")

    # ONNX Runtime runs both on the same inputs; each output's spread is within a factor of 10.
    ranges = subprocess.run(["node", os.path.join(runtime, "output_ranges.js"), "16", src, out],
                            capture_output=True, text=True)
    expect(ranges.returncode == 0, "onnxruntime: " + ranges.stderr.strip())
    if ranges.returncode == 0:
        r = json.loads(ranges.stdout)
        for output, s0 in r[src].items():
            s1 = r[out][output]
            ratio = s1["std"] / s0["std"]
            expect(0.1 <= ratio <= 10 and np.isfinite([s1["min"], s1["max"]]).all(),
                   "%s: output std %.3g vs %.3g in the original" % (output, s1["std"], s0["std"]))
            print("ok      output %-6s std %.3g (original %.3g), range [%.3g, %.3g] (original [%.3g, %.3g])"
                  % (output, s1["std"], s0["std"], s1["min"], s1["max"], s0["min"], s0["max"]))

    # check --preset proxy: a usage error naming the reason, nothing checked.
    r = subprocess.run([tool, "check", out, "--preset", "proxy"], capture_output=True, text=True)
    expect(r.returncode == 2 and "own statistics" in r.stderr, "check --preset proxy exited %d: %s" % (r.returncode, r.stderr))

    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
