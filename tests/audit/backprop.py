#!/usr/bin/python3
"""A numpy forward and backward pass of plain MLP and CNN ONNX graphs, to measure what ONNX Runtime
cannot give: the gradient at each layer's input. The inputs are the ones measure_layers.js feeds
ORT, so the forward pass can be compared with ORT's value for value.

usage: backprop.py MODEL [--batch 32] [--seed 0] [--input-std 1] [--grad-seed 1]
  prints (JSON), per layer, the pooled moments of its pre-activation and activation and
  backward_std, sqrt(E[grad^2]) at the layer's input for a unit-second-moment gradient at the
  model's output (see unit_probes).

Ops: Gemm, MatMul, Add, Sub, Mul, Div, Conv (any group, pads, strides, dilations), Relu, LeakyRelu,
Tanh, Sigmoid, Selu, Elu, Erf, Identity, Flatten, Reshape, GlobalAveragePool, Constant. Tensors are
float32 by default (as ORT computes); float64 for the gradient check.

A "layer" is a Gemm, MatMul or Conv node whose second input is an initializer (its weight). Its
pre-activation is its output after the bias (Gemm's or Conv's own, or an Add of a constant that is
the sole consumer of a MatMul/Conv output); its activation is the elementwise region that follows
(every node whose inputs are region tensors or constants: Relu, or Div-Erf-Add-Mul-Mul for GELU).
"""
import argparse
import json
import math
import sys
from collections import namedtuple

import numpy as np
import onnx
from onnx import numpy_helper

SELU_ALPHA = 1.6732632423543772
SELU_GAMMA = 1.0507009873554805
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Selu", "Elu",
               "Erf", "Identity"}
_erf = np.vectorize(math.erf, otypes=[np.float64])  # numpy has no erf; libm's is exact enough

Layer = namedtuple("Layer", "name op weight input preact act activation_nodes")


class Graph:
    """An ONNX graph with its constants (initializers and Constant nodes) as numpy arrays."""

    def __init__(self, model):
        g = model.graph
        self.nodes = list(g.node)
        self.constants = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for node in self.nodes:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.inputs = [v for v in g.input if v.name not in self.constants]
        self.outputs = [v.name for v in g.output]
        self.consumers = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


# --- normal inputs: the same stream as tests/runtime/measure_layers.js --------------------------

def _fmix32(h):
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def normal_inputs(graph, batch, seed, std):
    """The inputs measure_layers.js feeds: element i of input k from a hash of (seed, k, i), Box-Muller
    on pairs, computed in float64 and rounded to float32 exactly as the JavaScript does."""
    feeds = {}
    for index, value in enumerate(graph.inputs):
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else batch
                for d in value.type.tensor_type.shape.dim]
        size = int(np.prod(dims))
        key = _fmix32(_fmix32(np.array([seed], dtype=np.uint32)) + np.uint32(index))[0]
        pairs = (size + 1) // 2
        j = np.arange(2 * pairs, dtype=np.uint32)
        words = _fmix32(key + j * np.uint32(0x9E3779B9)).astype(np.float64)
        u1 = (words[0::2] + 1.0) / 4294967296.0
        u2 = words[1::2] / 4294967296.0
        r = np.sqrt(-2.0 * np.log(u1))
        values = np.empty(2 * pairs)
        values[0::2] = std * r * np.cos(2.0 * math.pi * u2)
        values[1::2] = std * r * np.sin(2.0 * math.pi * u2)
        feeds[value.name] = values[:size].astype(np.float32).reshape(dims)
    return feeds


# --- forward and backward per op ----------------------------------------------------------------

def _unbroadcast(grad, shape):
    """Sums a broadcast gradient back to the operand's shape."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def _conv_geometry(x_shape, w_shape, a):
    k = w_shape[2:]
    nd = len(k)
    strides = a.get("strides", [1] * nd)
    dilations = a.get("dilations", [1] * nd)
    pads = a.get("pads", [0] * (2 * nd))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    out = [(x_shape[2 + i] + pads[i] + pads[nd + i] - dilations[i] * (k[i] - 1) - 1) // strides[i] + 1
           for i in range(nd)]
    return k, strides, dilations, pads, out


def _taps(k, strides, dilations, out):
    """For each kernel tap, the slices of the padded input that tap reads, one per spatial axis."""
    for tap in np.ndindex(*k):
        yield tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                    for t, s, d, o in zip(tap, strides, dilations, out))


def conv_forward(x, w, b, a):
    """im2col: one matrix product per group over (C/g * taps) x (N * output positions)."""
    group = a.get("group", 1)
    k, strides, dilations, pads, out = _conv_geometry(x.shape, w.shape, a)
    nd = len(k)
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    ntaps = int(np.prod(k))
    cols = np.stack([xp[(slice(None), slice(None)) + sl] for sl in _taps(k, strides, dilations, out)],
                    axis=2)  # [N, C, taps, out...]
    cols = cols.reshape(n, group, cg * ntaps, -1).transpose(1, 2, 0, 3).reshape(group, cg * ntaps, -1)
    y = np.matmul(w.reshape(group, mg, -1), cols)  # [group, M/g, N * positions]
    y = y.reshape(m, n, *out).swapaxes(0, 1)
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * nd)
    return np.ascontiguousarray(y)


def conv_backward_input(gy, x_shape, w, a):
    """The gradient at the Conv's input: W^T times the output gradient (col2im of the tap rows)."""
    group = a.get("group", 1)
    k, strides, dilations, pads, out = _conv_geometry(x_shape, w.shape, a)
    nd = len(k)
    n, c = x_shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    ntaps = int(np.prod(k))
    gyg = gy.swapaxes(0, 1).reshape(group, mg, -1)  # [group, M/g, N * positions]
    gcols = np.matmul(w.reshape(group, mg, -1).transpose(0, 2, 1), gyg)  # [group, C/g * taps, N*pos]
    gcols = gcols.reshape(group, cg, ntaps, n, *out)
    padded = [x_shape[2 + i] + pads[i] + pads[nd + i] for i in range(nd)]
    gxp = np.zeros((n, group, cg) + tuple(padded), dtype=gy.dtype)
    for t, sl in enumerate(_taps(k, strides, dilations, out)):
        gxp[(slice(None), slice(None), slice(None)) + sl] += np.moveaxis(gcols[:, :, t], 2, 0)
    crop = tuple(slice(pads[i], pads[i] + x_shape[2 + i]) for i in range(nd))
    return gxp.reshape((n, c) + tuple(padded))[(slice(None), slice(None)) + crop]


def _gemm_operands(a_, b_, at):
    a_ = a_.T if at.get("transA", 0) else a_
    b_ = b_.T if at.get("transB", 0) else b_
    return a_, b_


def _elu_constants(op, a):
    """(alpha, gamma) of Selu, or of Elu with gamma 1: Selu is a scaled Elu."""
    if op == "Selu":
        return a.get("alpha", SELU_ALPHA), a.get("gamma", SELU_GAMMA)
    return a.get("alpha", 1.0), 1.0


def forward_node(node, x):
    """The outputs of `node` given its input arrays `x` (None for an absent optional input)."""
    op, a = node.op_type, attrs(node)
    if op == "Gemm":
        p, q = _gemm_operands(x[0], x[1], a)
        y = a.get("alpha", 1.0) * (p @ q)
        return [y + a.get("beta", 1.0) * x[2] if len(x) > 2 and x[2] is not None else y]
    if op == "MatMul":
        return [np.matmul(x[0], x[1])]
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        return [f(x[0], x[1]).astype(np.result_type(x[0], x[1]))]
    if op == "Conv":
        return [conv_forward(x[0], x[1], x[2] if len(x) > 2 else None, a)]
    if op == "Relu":
        return [np.maximum(x[0], 0)]
    if op == "LeakyRelu":
        return [np.where(x[0] > 0, x[0], x[0] * x[0].dtype.type(a.get("alpha", 0.01)))]
    if op == "Tanh":
        return [np.tanh(x[0])]
    if op == "Sigmoid":
        return [(1 / (1 + np.exp(-x[0]))).astype(x[0].dtype)]
    if op in ("Selu", "Elu"):
        al, ga = _elu_constants(op, a)
        return [(ga * np.where(x[0] > 0, x[0], al * np.expm1(np.minimum(x[0], 0)))).astype(x[0].dtype)]
    if op == "Erf":
        return [_erf(x[0]).astype(x[0].dtype)]
    if op == "Identity":
        return [x[0]]
    if op == "Flatten":
        axis = a.get("axis", 1)
        return [x[0].reshape(int(np.prod(x[0].shape[:axis])), -1)]
    if op == "Reshape":
        shape = [x[0].shape[i] if d == 0 else d for i, d in enumerate(x[1].tolist())]
        return [x[0].reshape(shape)]
    if op == "GlobalAveragePool":
        return [x[0].mean(axis=tuple(range(2, x[0].ndim)), keepdims=True)]
    raise NotImplementedError("op " + op)


def backward_node(node, x, y, gy, need):
    """Gradients for the inputs of `node` whose `need` flag is set (None for the others: a weight's
    gradient would double the cost of a MatMul), given its inputs x, outputs y and the gradient gy
    of its (first) output."""
    op, a = node.op_type, attrs(node)
    grads = [None] * len(x)

    def put(i, compute):
        if need[i]:
            grads[i] = compute()

    if op == "Gemm":
        p, q = _gemm_operands(x[0], x[1], a)
        al = a.get("alpha", 1.0)
        put(0, lambda: (al * (gy @ q.T)).T if a.get("transA", 0) else al * (gy @ q.T))
        put(1, lambda: (al * (p.T @ gy)).T if a.get("transB", 0) else al * (p.T @ gy))
        if len(x) > 2 and x[2] is not None:
            put(2, lambda: _unbroadcast(a.get("beta", 1.0) * gy, x[2].shape))
    elif op == "MatMul":
        put(0, lambda: _unbroadcast(np.matmul(gy, np.swapaxes(x[1], -1, -2)), x[0].shape))
        put(1, lambda: _unbroadcast(np.matmul(np.swapaxes(x[0], -1, -2), gy), x[1].shape))
    elif op == "Add":
        put(0, lambda: _unbroadcast(gy, x[0].shape))
        put(1, lambda: _unbroadcast(gy, x[1].shape))
    elif op == "Sub":
        put(0, lambda: _unbroadcast(gy, x[0].shape))
        put(1, lambda: _unbroadcast(-gy, x[1].shape))
    elif op == "Mul":
        put(0, lambda: _unbroadcast(gy * x[1], x[0].shape))
        put(1, lambda: _unbroadcast(gy * x[0], x[1].shape))
    elif op == "Div":
        put(0, lambda: _unbroadcast(gy / x[1], x[0].shape))
        put(1, lambda: _unbroadcast(-gy * x[0] / x[1] ** 2, x[1].shape))
    elif op == "Conv":
        put(0, lambda: conv_backward_input(gy, x[0].shape, x[1], a))
    elif op in ("Relu", "LeakyRelu"):
        slope = 0.0 if op == "Relu" else a.get("alpha", 0.01)
        put(0, lambda: np.where(x[0] > 0, gy, gy * gy.dtype.type(slope)))
    elif op == "Tanh":
        put(0, lambda: gy * (1 - y[0] * y[0]))
    elif op == "Sigmoid":
        put(0, lambda: gy * y[0] * (1 - y[0]))
    elif op in ("Selu", "Elu"):
        al, ga = _elu_constants(op, a)
        put(0, lambda: (gy * ga * np.where(x[0] > 0, 1.0, al * np.exp(np.minimum(x[0], 0)))).astype(gy.dtype))
    elif op == "Erf":
        put(0, lambda: (gy * (2 / math.sqrt(math.pi)) * np.exp(-np.square(x[0], dtype=np.float64)))
            .astype(gy.dtype))
    elif op in ("Identity", "Flatten", "Reshape"):
        put(0, lambda: gy.reshape(x[0].shape))
    elif op == "GlobalAveragePool":
        put(0, lambda: np.broadcast_to(gy / np.prod(x[0].shape[2:]), x[0].shape).astype(gy.dtype))
    else:
        raise NotImplementedError("op " + op)
    return grads


def forward(graph, feeds, dtype=np.float32, node_forward=None):
    """Every tensor's value (constants included) after running the graph on `feeds`; `node_forward`
    (default forward_node) runs one node. Float outputs are kept in `dtype`."""
    node_forward = node_forward or forward_node
    values = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in graph.constants.items()}
    values.update({k: v.astype(dtype) for k, v in feeds.items()})
    for node in graph.nodes:
        if node.op_type == "Constant":
            continue
        outs = node_forward(node, [values[n] if n else None for n in node.input])
        values.update(zip(node.output, [o.astype(dtype) if o.dtype.kind == "f" else o for o in outs]))
    return values


def backward(graph, values, output_grads):
    """The gradient of every non-constant tensor, given the gradients at (some) graph outputs.
    Reverse topological order; a tensor read by several nodes (a residual's skip, GELU's x) sums
    the gradients it receives."""
    grads = dict(output_grads)
    for node in reversed(graph.nodes):
        if node.op_type == "Constant" or node.output[0] not in grads:
            continue
        x = [values[n] if n else None for n in node.input]
        y = [values[n] for n in node.output]
        need = [bool(n) and n not in graph.constants for n in node.input]
        for name, g in zip(node.input, backward_node(node, x, y, grads[node.output[0]], need)):
            if g is not None:
                grads[name] = grads[name] + g if name in grads else g
    return grads


# --- layers -------------------------------------------------------------------------------------

def find_layers(graph):
    """The layers in node order (see the module's docstring for what a layer is)."""
    layers = []
    for i, node in enumerate(graph.nodes):
        if node.op_type not in ("Gemm", "MatMul", "Conv") or node.input[1] not in graph.constants:
            continue
        preact = node.output[0]
        consumers = graph.consumers.get(preact, [])
        if (node.op_type != "Gemm" and len(consumers) == 1 and consumers[0].op_type == "Add"
                and any(n in graph.constants for n in consumers[0].input)):
            preact = consumers[0].output[0]
        region = {preact}
        activation_nodes = []
        for later in graph.nodes[i + 1:]:
            inputs = [n for n in later.input if n and n not in graph.constants]
            if later.op_type in ELEMENTWISE and inputs and all(n in region for n in inputs):
                region.update(later.output)
                activation_nodes.append(later)
        # The activation's output is the region tensor read from outside the region (or a graph
        # output); with no elementwise op after the layer it is the pre-activation itself.
        inside = {id(n) for n in activation_nodes}
        exits = [t for t in region
                 if t in graph.outputs or any(id(c) not in inside for c in graph.consumers.get(t, []))]
        act = exits[0] if len(exits) == 1 else preact
        layers.append(Layer(node.name, node.op_type, node.input[1], node.input[0], preact, act,
                            activation_nodes))
    return layers


def moments(array):
    """Pooled mean, std and second moment of every element, in float64."""
    a = array.astype(np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "second_moment": float(np.mean(a * a))}


def unit_probes(rng, shape):
    """Output gradients with E[g g^T] = I per sample, like i.i.d. N(0, 1), but drawn as a
    Haar-random orthonormal frame scaled to unit second moment: the samples' probes are orthogonal
    (batch <= outputs) or together exactly isotropic (batch > outputs). The gradient at a layer is
    linear in the probe, so its expected second moment is the same as for i.i.d. N(0, 1); the
    estimate's noise is lower (a deep Jacobian is strongly anisotropic and independent probes
    sample its spectrum unevenly: on a 50x512 tanh MLP with 64 samples the spread between
    realizations drops from 9% to 2-3% in the second moment)."""
    b, m = shape[0], int(np.prod(shape[1:]))
    if b >= m:
        q, _ = np.linalg.qr(rng.standard_normal((b, m)))
        g = math.sqrt(b) * q
    else:
        q, _ = np.linalg.qr(rng.standard_normal((m, b)))
        g = math.sqrt(m) * q.T
    return g.reshape(shape).astype(np.float32)


def measure(graph, batch, seed, input_std, grad_seed):
    """Per layer: pooled moments of the pre-activation and activation on measure_layers.js's inputs,
    and the second moment of the gradient at the layer's input for a unit output gradient
    (unit_probes, the same expectation as i.i.d. N(0, 1)). Returns that and every tensor's value."""
    values = forward(graph, normal_inputs(graph, batch, seed, input_std))
    rng = np.random.default_rng(grad_seed)
    output_grads = {o: unit_probes(rng, values[o].shape) for o in graph.outputs}
    grads = backward(graph, values, output_grads)
    result = {}
    for layer in find_layers(graph):
        g = grads[layer.input].astype(np.float64)
        result[layer.name] = {"forward": moments(values[layer.preact]),
                              "activation": moments(values[layer.act]),
                              "backward_second_moment": float(np.mean(g * g))}
    return result, values


def gradient_check(graph, batch=1, seed=0, eps=1e-6, run_forward=None, run_backward=None):
    """The largest relative error of backward() against a central difference of
    <output_grad, f(x + eps v)> along a random direction v, in float64: validates every op's
    backward rule on the graph at hand. `run_forward`/`run_backward` (default this module's) let a
    module with more ops check its own."""
    run_forward, run_backward = run_forward or forward, run_backward or backward
    feeds = normal_inputs(graph, batch, seed, 1.0)
    rng = np.random.default_rng(seed)
    values = run_forward(graph, feeds, np.float64)
    out_grads = {o: rng.standard_normal(values[o].shape) for o in graph.outputs}
    grads = run_backward(graph, values, out_grads)
    worst = 0.0
    for name, x in feeds.items():
        v = rng.standard_normal(x.shape)
        plus = run_forward(graph, {**feeds, name: x.astype(np.float64) + eps * v}, np.float64)
        minus = run_forward(graph, {**feeds, name: x.astype(np.float64) - eps * v}, np.float64)
        numeric = sum(float(np.sum(g * (plus[o] - minus[o]))) for o, g in out_grads.items()) / (2 * eps)
        analytic = float(np.sum(grads[name] * v))
        worst = max(worst, abs(numeric - analytic) / max(abs(numeric), 1e-12))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--input-std", type=float, default=1.0)
    parser.add_argument("--grad-seed", type=int, default=1)
    args = parser.parse_args()
    graph = Graph(onnx.load(args.model))
    result, _ = measure(graph, args.batch, args.seed, args.input_std, args.grad_seed)
    out = {name: {"forward": r["forward"], "activation": r["activation"],
                  "backward_std": math.sqrt(r["backward_second_moment"])} for name, r in result.items()}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
