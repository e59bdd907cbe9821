#!/usr/bin/python3
"""The numpy forward and backward passes of backprop.py, extended with the ops of the zoo's CNNs
(models/zoo): BatchNormalization (inference: running statistics, as ONNX Runtime computes it), Clip,
HardSigmoid, HardSwish, Concat, Pad (constant), MaxPool and AveragePool (any pads, strides,
ceil_mode). Everything else is delegated to backprop.py. Used by audit_zoo.py to measure the gradient
at each layer's input; not a general ONNX interpreter (no LayerNorm, attention, Slice, ...).
"""
import math

import numpy as np

import backprop
from backprop import attrs


def _clip_bounds(node, x):
    a = attrs(node)
    lo = x[1] if len(x) > 1 and x[1] is not None else a.get("min", -math.inf)
    hi = x[2] if len(x) > 2 and x[2] is not None else a.get("max", math.inf)
    return lo, hi


def _bn_scale(x, a):
    """BatchNormalization in inference mode: y = s (x - mean) + B per channel; returns s, shift."""
    shape = (1, -1) + (1,) * (x[0].ndim - 2)
    s = x[1] / np.sqrt(x[4] + np.float32(a.get("epsilon", 1e-5)))
    return s.reshape(shape), (x[2] - s * x[3]).reshape(shape)


def _pool_geometry(shape, a):
    """Kernel, strides and the begin/end padding of a pooling over `shape`, the end padding extended
    so that ceil_mode's last windows fit; and the output sizes."""
    k = list(a["kernel_shape"])
    nd = len(k)
    strides = list(a.get("strides", [1] * nd))
    dilations = list(a.get("dilations", [1] * nd))
    pads = list(a.get("pads", [0] * (2 * nd)))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("pool auto_pad")
    ceil = a.get("ceil_mode", 0)
    out, end = [], []
    for i in range(nd):
        span = shape[2 + i] + pads[i] + pads[nd + i] - dilations[i] * (k[i] - 1) - 1
        o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= shape[2 + i] + pads[i]:
            o -= 1  # a window must start inside the input or its left padding
        out.append(o)
        need = (o - 1) * strides[i] + dilations[i] * (k[i] - 1) + 1
        end.append(max(pads[nd + i], need - shape[2 + i] - pads[i]))
    return k, strides, dilations, pads[:nd], end, out


def _windows(x, a, fill):
    k, strides, dilations, begin, end, out = _pool_geometry(x.shape, a)
    xp = np.pad(x, [(0, 0), (0, 0)] + list(zip(begin, end)), constant_values=fill)
    taps = list(backprop._taps(k, strides, dilations, out))
    return xp, taps, begin


def _avg_count(x, a):
    """How many elements each AveragePool window divides by."""
    k = a["kernel_shape"]
    if a.get("count_include_pad", 0):
        return np.float32(np.prod(k))
    ones = np.ones((1, 1) + x.shape[2:], dtype=x.dtype)
    xp, taps, _ = _windows(ones, a, 0)
    return sum(xp[(slice(None), slice(None)) + sl] for sl in taps)


def forward_node(node, x):
    op, a = node.op_type, attrs(node)
    if op == "BatchNormalization":
        s, shift = _bn_scale(x, a)
        return [x[0] * s + shift]
    if op == "Clip":
        lo, hi = _clip_bounds(node, x)
        return [np.clip(x[0], lo, hi).astype(x[0].dtype)]
    if op == "HardSigmoid":
        t = np.float32(a.get("alpha", 0.2)) * x[0] + np.float32(a.get("beta", 0.5))
        return [np.clip(t, 0, 1).astype(x[0].dtype)]
    if op == "HardSwish":
        return [(x[0] * np.clip(x[0] / np.float32(6) + np.float32(0.5), 0, 1)).astype(x[0].dtype)]
    if op == "Concat":
        return [np.concatenate(x, axis=a["axis"])]
    if op == "Pad":
        if a.get("mode", b"constant") not in (b"constant", "constant"):
            raise NotImplementedError("Pad mode")
        pads = [int(p) for p in x[1]]
        nd = len(pads) // 2
        value = float(x[2]) if len(x) > 2 and x[2] is not None and x[2].size else 0.0
        return [np.pad(x[0], [(pads[i], pads[nd + i]) for i in range(nd)], constant_values=value)]
    if op == "MaxPool":
        xp, taps, _ = _windows(x[0], a, -np.inf)
        return [np.max(np.stack([xp[(slice(None), slice(None)) + sl] for sl in taps]), axis=0)]
    if op == "AveragePool":
        xp, taps, _ = _windows(x[0], a, 0)
        total = sum(xp[(slice(None), slice(None)) + sl] for sl in taps)
        return [(total / _avg_count(x[0], a)).astype(x[0].dtype)]
    return backprop.forward_node(node, x)


def _crop(gxp, begin, shape):
    return gxp[(slice(None), slice(None)) + tuple(slice(b, b + n) for b, n in zip(begin, shape[2:]))]


def backward_node(node, x, y, gy, need):
    op, a = node.op_type, attrs(node)
    grads = [None] * len(x)
    if op == "BatchNormalization":
        if need[0]:
            grads[0] = gy * _bn_scale(x, a)[0]
        return grads
    if op == "Clip":
        lo, hi = _clip_bounds(node, x)
        if need[0]:
            grads[0] = np.where((x[0] > lo) & (x[0] < hi), gy, 0).astype(gy.dtype)
        return grads
    if op == "HardSigmoid":
        al = np.float32(a.get("alpha", 0.2))
        t = al * x[0] + np.float32(a.get("beta", 0.5))
        if need[0]:
            grads[0] = np.where((t > 0) & (t < 1), gy * al, 0).astype(gy.dtype)
        return grads
    if op == "HardSwish":
        slope = np.where(x[0] < -3, 0, np.where(x[0] > 3, 1, (2 * x[0] + 3) / 6))
        if need[0]:
            grads[0] = (gy * slope).astype(gy.dtype)
        return grads
    if op == "Concat":
        axis = a["axis"] % x[0].ndim
        edges = np.cumsum([t.shape[axis] for t in x])[:-1]
        for i, part in enumerate(np.split(gy, edges, axis=axis)):
            if need[i]:
                grads[i] = part
        return grads
    if op == "Pad":
        pads = [int(p) for p in x[1]]
        nd = len(pads) // 2
        if need[0]:
            grads[0] = gy[tuple(slice(pads[i], pads[i] + x[0].shape[i]) for i in range(nd))]
        return grads
    if op in ("MaxPool", "AveragePool"):
        if not need[0]:
            return grads
        xp, taps, begin = _windows(x[0], a, -np.inf if op == "MaxPool" else 0)
        gxp = np.zeros(xp.shape, dtype=gy.dtype)
        if op == "MaxPool":
            # The gradient goes to the first maximum of each window (ORT's and PyTorch's choice).
            best = np.argmax(np.stack([xp[(slice(None), slice(None)) + sl] for sl in taps]), axis=0)
            for t, sl in enumerate(taps):
                gxp[(slice(None), slice(None)) + sl] += np.where(best == t, gy, 0)
        else:
            share = gy / _avg_count(x[0], a)
            for sl in taps:
                gxp[(slice(None), slice(None)) + sl] += share
        grads[0] = _crop(gxp, begin, x[0].shape)
        return grads
    return backprop.backward_node(node, x, y, gy, need)


def forward(graph, feeds, dtype=np.float32):
    """Every tensor's value after running the graph on `feeds` (backprop.forward with these ops)."""
    return backprop.forward(graph, feeds, dtype, node_forward=forward_node)


def backward(graph, values, output_grads, record=None):
    """The gradient of every non-constant tensor given the gradients at the graph outputs. `record`
    {node name: input index}: also returns, per such node, the gradient it alone sends to that input
    (a tensor read by several nodes gets the sum of theirs)."""
    grads, own = dict(output_grads), {}
    record = record or {}
    for node in reversed(graph.nodes):
        if node.op_type == "Constant" or node.output[0] not in grads:
            continue
        x = [values[n] if n else None for n in node.input]
        y = [values[n] for n in node.output]
        need = [bool(n) and n not in graph.constants and values[n].dtype.kind == "f" for n in node.input]
        node_grads = backward_node(node, x, y, grads[node.output[0]], need)
        if node.name in record:
            own[node.name] = node_grads[record[node.name]]
        for name, g in zip(node.input, node_grads):
            if g is not None:
                grads[name] = grads[name] + g if name in grads else g
    return (grads, own) if record else grads


def measure(graph, batch, seed, input_std, grad_seed, layer_inputs):
    """Forward values on measure_layers.js's inputs, and per layer {node name: input index} the
    second moments of the gradient at that input for unit-second-moment probes at the outputs
    (backprop.unit_probes): the layer's own share (what it sends back through its weights) and the
    input tensor's total."""
    values = forward(graph, backprop.normal_inputs(graph, batch, seed, input_std))
    rng = np.random.default_rng(grad_seed)
    probes = {o: backprop.unit_probes(rng, values[o].shape) for o in graph.outputs}
    grads, own = backward(graph, values, probes, layer_inputs)
    by_name = {n.name: n for n in graph.nodes}
    second = lambda g: float(np.mean(np.square(g, dtype=np.float64)))
    return values, {n: (second(own[n]), second(grads[by_name[n].input[i]])) for n, i in layer_inputs.items()}


def gradient_check(graph, seed=0, eps=1e-6):
    """backward() against a central difference along a random input direction, in float64, batch 1."""
    return backprop.gradient_check(graph, 1, seed, eps, run_forward=forward, run_backward=backward)
