#!/usr/bin/python3
"""A reference mean-field recursion for plain chains of layers (MLPs, CNNs without skips), to check
the measurements (and the tool's audit) against theory.

usage: mean_field.py [--seeds 8]
  sanity check: builds the plain-chain test models (He/ReLU, Xavier/tanh, LeCun/SELU, He/LeakyReLU,
  Xavier/sigmoid, He/GELU MLPs and the He/ReLU CNN) with weights drawn here in numpy
  (make_audit_models.py --init note), measures them with backprop.py and prints the recursion's
  error per model, with and without the padding model.

Forward, layer l with input second moment E[x^2] and weights of E[w^2] = std_w^2 + mean_w^2:
    q_l = fan_in * E[w^2] * E[x^2] + E[b^2],   E[x_{l+1}^2] = E[phi(z)^2],  z ~ N(0, q_l)
(mean_w enters exactly only through cross terms fan_in^2 * mean_w^2 * E[x]^2, which are O(1/fan_in)
for a zero-mean scheme's realized mean, so the sum of squares is what matters.)
Backward, the gradient's second moment r at a layer's input, from r_out at its activation's output:
    r_l = fan_out * E[w^2] * E[phi'(z)^2] * r_out,   r_out = 1 at the model's output.
With spatial=True a Conv's zero padding is modelled: q and r become maps over positions, each
position summing only the kernel taps that fall inside the input (a box filter of the map), which
is what a padded convolution does to the second moments; spatial=False uses the nominal fans.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
from numpy.polynomial.legendre import leggauss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backprop  # noqa: E402
import make_audit_models  # noqa: E402


def _standard_normal_rule(half_width=12.0, panels=8, points=16):
    """Nodes and weights for E[f(z)], z ~ N(0, 1): Gauss-Legendre panels on [-12, 0] and [0, 12].
    Not Gauss-Hermite: ReLU, LeakyReLU, SELU and ELU have a kink (and phi' a jump) at 0, where
    Gauss-Hermite converges only as 1/n (0.5% on E[selu'^2] with 200 nodes, 10% after 20 layers);
    panels that end at 0 integrate each smooth side to ~1e-12."""
    x, w = leggauss(points)
    edges = np.linspace(-half_width, half_width, 2 * panels + 1)
    nodes = np.concatenate([(a + b) / 2 + (b - a) / 2 * x for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(b - a) / 2 * w for a, b in zip(edges[:-1], edges[1:])])
    return nodes, weights * np.exp(-nodes ** 2 / 2) / math.sqrt(2 * math.pi)


NODES, WEIGHTS = _standard_normal_rule()


def gaussian_moments(phi, dphi, q):
    """E[phi(z)], E[phi(z)^2] and E[phi'(z)^2] for z ~ N(0, q), elementwise over an array q."""
    q = np.asarray(q, dtype=np.float64)
    z = np.sqrt(q)[..., None] * NODES
    f, d = phi(z), dphi(z)
    return (f * WEIGHTS).sum(-1), (f * f * WEIGHTS).sum(-1), (d * d * WEIGHTS).sum(-1)


def activation(graph, layer):
    """phi and phi' of a layer, computed by running its activation nodes (backprop.py's ops) on an
    array of pre-activation values, so every activation the graph spells out (GELU as Erf, ...) is
    covered without a table."""
    def run(z):
        values = {layer.preact: z}
        for node in layer.activation_nodes:
            x = [values[n] if n in values else graph.constants[n].astype(np.float64) for n in node.input]
            values.update(zip(node.output, backprop.forward_node(node, x)))
        return values

    def phi(z):
        return run(z)[layer.act]

    def dphi(z):
        values = run(z)
        grads = {layer.act: np.ones_like(z)}
        for node in reversed(layer.activation_nodes):
            if node.output[0] not in grads:
                continue
            x = [values[n] if n in values else graph.constants[n].astype(np.float64) for n in node.input]
            y = [values[n] for n in node.output]
            need = [n in values for n in node.input]
            for name, g in zip(node.input, backprop.backward_node(node, x, y, grads[node.output[0]], need)):
                if g is not None:
                    grads[name] = grads[name] + g if name in grads else g
        return grads.get(layer.preact, np.zeros_like(z))

    return phi, dphi


def _through_shape_ops(graph, name):
    """Follows a tensor back through Flatten/Reshape/Identity to the tensor they carry."""
    producers = {o: n for n in graph.nodes for o in n.output}
    while name in producers and producers[name].op_type in ("Flatten", "Reshape", "Identity"):
        name = producers[name].input[0]
    return name


def chain(graph):
    """The layers of a plain chain, each with what the recursion needs; ValueError if the graph is
    not one (a layer reading anything but the previous layer's activation, a skip, a pooling)."""
    layers = backprop.find_layers(graph)
    spatial = [d.dim_value for d in graph.inputs[0].type.tensor_type.shape.dim][2:]
    expected = graph.inputs[0].name
    out = []
    for layer in layers:
        if _through_shape_ops(graph, layer.input) != expected:
            raise ValueError(layer.name + ": input is not the previous layer's activation")
        node = next(n for n in graph.nodes if n.name == layer.name)
        w = graph.constants[layer.weight].astype(np.float64)
        a = backprop.attrs(node)
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if layer.preact != node.output[0]:  # the bias is a following Add of a constant
            add = graph.consumers[node.output[0]][0]
            bias = next(n for n in add.input if n in graph.constants)
        b2 = float(np.mean(graph.constants[bias].astype(np.float64) ** 2)) if bias else 0.0
        item = {"name": layer.name, "w2": float(np.mean(w * w)), "b2": b2, "conv": None}
        if layer.op == "Conv":
            group = a.get("group", 1)
            k = int(np.prod(w.shape[2:]))
            item.update(fan_in=w.shape[1] * k, fan_out=w.shape[0] // group * k, conv=(w.shape, a),
                        in_channels=w.shape[1], out_channels=w.shape[0] // group, in_spatial=tuple(spatial))
            spatial = backprop._conv_geometry([1, 1] + spatial, w.shape, a)[4]
        elif layer.op == "Gemm":
            n_out, n_in = w.shape if a.get("transB", 0) else w.shape[::-1]
            item.update(fan_in=n_in, fan_out=n_out)
        else:
            item.update(fan_in=w.shape[-2], fan_out=w.shape[-1])
        item["phi"], item["dphi"] = activation(graph, layer)
        out.append(item)
        expected = layer.act
    if _through_shape_ops(graph, graph.outputs[0]) != expected:
        raise ValueError("the model's output is not the last layer's activation")
    return out


def _box(m2_map, item):
    """Sum over each output position's in-bounds kernel taps of an input map of second moments."""
    w_shape, a = item["conv"]
    ones = np.ones((1, 1) + tuple(w_shape[2:]))
    return backprop.conv_forward(m2_map[None, None], ones, None, {**a, "group": 1})[0, 0]


def _box_transposed(r_map, item):
    """The adjoint of _box: each input position sums the output positions whose taps cover it."""
    w_shape, a = item["conv"]
    ones = np.ones((1, 1) + tuple(w_shape[2:]))
    shape = (1, 1) + item["in_spatial"]
    return backprop.conv_backward_input(r_map[None, None], shape, ones, {**a, "group": 1})[0, 0]


def predict(layers, input_std, spatial=False):
    """Per layer: pooled forward_q (pre-activation second moment), activation_m2, activation_mean
    and backward_m2 (gradient second moment at the layer's input). With spatial, the second moments
    are maps over positions from the first Conv on (`in_channels`/`out_channels` are per group)."""
    m2 = np.float64(input_std ** 2)
    forward = []
    for item in layers:
        if spatial and item["conv"]:
            box = _box(np.broadcast_to(m2, item["in_spatial"]), item)
            q = item["w2"] * item["in_channels"] * box + item["b2"]
        else:
            q = np.float64(item["fan_in"] * item["w2"] * np.mean(m2) + item["b2"])
        mean, m2, d2 = gaussian_moments(item["phi"], item["dphi"], q)
        forward.append((q, mean, m2, d2))
    r = np.float64(1.0)  # the unit gradient at the model's output
    backward = []
    for item, (q, _, _, d2) in reversed(list(zip(layers, forward))):
        delta2 = d2 * r
        if spatial and item["conv"]:
            r = item["w2"] * item["out_channels"] * _box_transposed(np.broadcast_to(delta2, q.shape), item)
        else:
            r = np.float64(item["fan_out"] * item["w2"] * np.mean(delta2))
        backward.append(r)
    return [{"name": item["name"], "forward_q": float(np.mean(q)), "activation_mean": float(np.mean(mean)),
             "activation_m2": float(np.mean(m2)), "backward_m2": float(np.mean(r))}
            for item, (q, mean, m2, _), r in zip(layers, forward, reversed(backward))]


def sanity_check(seeds):
    """Numpy-initialized models (the note's schemes) measured by backprop.py against predict(), with
    the test's protocol: second moments averaged over `seeds` realizations for the nets whose
    realizations stray (ReLU family, sigmoid), one realization for tanh and SELU."""
    cases = [("mlp_relu_50x512", seeds, 32), ("mlp_tanh_50x512", 1, 64), ("mlp_selu_20x256", 1, 64),
             ("mlp_leaky_relu_20x256", seeds, 64), ("mlp_sigmoid_20x256", seeds, 64),
             ("mlp_gelu_20x256", seeds, 64), ("cnn_relu", seeds, 2)]
    print("max relative error of the predicted std over the hidden layers; padded: Conv padding modelled")
    print("%-22s %5s %17s %17s %8s %8s %8s %8s %6s" % (
        "model", "seeds", "fwd first/last", "predicted", "fwd", "bwd", "fwd pad", "bwd pad", "s"))
    for name, count, batch in cases:
        start = time.time()
        forward_q, backward_m2 = [], []
        for seed in range(count):
            graph = backprop.Graph(make_audit_models.build(name, "note", seed))
            result, _ = backprop.measure(graph, batch, 1, 1.0, seed)
            forward_q.append([r["forward"]["second_moment"] for r in result.values()])
            backward_m2.append([r["backward_second_moment"] for r in result.values()])
        fq, bq = np.mean(forward_q, axis=0)[:-1], np.mean(backward_m2, axis=0)[:-1]  # the head excluded
        layers = chain(graph)
        errors = []
        for spatial in (False, True):
            p = predict(layers, 1.0, spatial)[:-1]
            errors += [np.max(np.abs(np.sqrt([x["forward_q"] for x in p] / fq) - 1)),
                       np.max(np.abs(np.sqrt([x["backward_m2"] for x in p] / bq) - 1))]
        print("%-22s %5d %8.3f/%-8.3f %8.3f/%-8.3f %7.1f%% %7.1f%% %7.1f%% %7.1f%% %6.1f" % (
            name, count, math.sqrt(fq[0]), math.sqrt(fq[-1]), math.sqrt(p[0]["forward_q"]),
            math.sqrt(p[-1]["forward_q"]), *(100 * e for e in errors), time.time() - start))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="realizations averaged for the ReLU nets")
    sanity_check(parser.parse_args().seeds)


if __name__ == "__main__":
    main()
