#!/usr/bin/python3
"""Builds the models the audit test measures: deep plain MLPs and CNNs whose signal statistics
mean-field theory predicts, written with onnx.helper (no exporter, so the graphs are exactly these).

usage: make_audit_models.py OUTDIR [--init small|note] [--seed S]

Every model has one float input `x` with a symbolic batch dimension "N", named nodes (a layer is a
Gemm, MatMul or Conv named `fc3`, `conv2`, `block1.conv_a`..., its weight `<layer>.weight`, its bias
`<layer>.bias`), float32 initializers and opset 13.
--init small (default) gives weights N(0, 0.01^2) and biases N(0, 0.01^2): the tool rewrites them.
--init note gives the note's schemes drawn here in numpy (He normal for the ReLU family, Xavier
uniform for tanh, sigmoid and linear layers, LeCun normal for SELU, zero biases), so mean_field.py
can check the measurements without the tool.
"""
import argparse
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
LEAKY_SLOPE = 0.2


def note_std(activation, fan_in, fan_out):
    """The std the weight-initialization note gives a layer followed by `activation`."""
    if activation in ("relu", "gelu"):
        return math.sqrt(2.0 / fan_in)
    if activation == "leaky_relu":
        return math.sqrt(2.0 / ((1 + LEAKY_SLOPE ** 2) * fan_in))
    if activation == "selu":
        return math.sqrt(1.0 / fan_in)
    return math.sqrt(2.0 / (fan_in + fan_out))  # Xavier: tanh, sigmoid, linear


class Builder:
    """Collects nodes and initializers of one model; each helper returns its output's name."""

    def __init__(self, init, rng):
        self.init = init
        self.rng = rng
        self.nodes = []
        self.initializers = []

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def weight(self, name, shape, activation, fan_in, fan_out):
        if self.init == "small":
            return self.const(name, self.rng.normal(0.0, 0.01, shape))
        std = note_std(activation, fan_in, fan_out)
        if activation in ("tanh", "sigmoid", "linear"):
            bound = math.sqrt(3.0) * std  # Xavier uniform, as the note recommends for them
            return self.const(name, self.rng.uniform(-bound, bound, shape))
        return self.const(name, self.rng.normal(0.0, std, shape))

    def bias(self, name, shape):
        values = self.rng.normal(0.0, 0.01, shape) if self.init == "small" else np.zeros(shape)
        return self.const(name, values)

    def node(self, op, inputs, name, **attrs):
        out = name + ".out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def dense(self, x, name, n_in, n_out, activation, style):
        """A fully connected layer: Gemm with transB (PyTorch's nn.Linear), or MatMul then an Add of
        the bias (what exporters emit for batched inputs and transformer FFNs)."""
        if style == "gemm":
            w = self.weight(name + ".weight", (n_out, n_in), activation, n_in, n_out)
            return self.node("Gemm", [x, w, self.bias(name + ".bias", (n_out,))], name, transB=1)
        w = self.weight(name + ".weight", (n_in, n_out), activation, n_in, n_out)
        y = self.node("MatMul", [x, w], name)
        return self.node("Add", [y, self.bias(name + ".bias", (n_out,))], name + ".bias_add")

    def conv(self, x, name, c_in, c_out, activation, groups=1, bias="input"):
        """A 3x3 stride-1 pad-1 convolution; bias="add" puts the bias in a following Add of a
        [1, C, 1, 1] constant instead of the Conv's third input, bias=None leaves it out."""
        fan_in = c_in // groups * 9
        fan_out = c_out // groups * 9
        w = self.weight(name + ".weight", (c_out, c_in // groups, 3, 3), activation, fan_in, fan_out)
        inputs = [x, w]
        if bias == "input":
            inputs.append(self.bias(name + ".bias", (c_out,)))
        y = self.node("Conv", inputs, name, kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=groups)
        if bias == "add":
            y = self.node("Add", [y, self.bias(name + ".bias", (1, c_out, 1, 1))], name + ".bias_add")
        return y

    def activation(self, x, kind, name):
        if kind == "linear":
            return x
        if kind == "gelu":
            # x * 0.5 * (1 + Erf(x / sqrt 2)), node for node as torch.onnx exports nn.GELU at opset 13.
            d = self.node("Div", [x, self.const(name + ".sqrt2", np.float32(math.sqrt(2.0)))], name + ".div")
            e = self.node("Erf", [d], name + ".erf")
            a = self.node("Add", [e, self.const(name + ".one", np.float32(1.0))], name + ".add")
            m = self.node("Mul", [x, a], name + ".mul")
            return self.node("Mul", [m, self.const(name + ".half", np.float32(0.5))], name + ".mul_half")
        op = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "selu": "Selu",
              "leaky_relu": "LeakyRelu"}[kind]
        attrs = {"alpha": LEAKY_SLOPE} if kind == "leaky_relu" else {}
        return self.node(op, [x], name, **attrs)

    def model(self, name, x_shape, y, y_shape):
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, y_shape)],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="make_audit_models.py")
        onnx.checker.check_model(model)
        return model


def mlp(b, depth, width, activation, style):
    """`depth` hidden layers width -> width, each followed by `activation`, then a linear head as
    wide as they are: the gradient measured at the hidden layers then averages over `width` output
    directions (a 10-wide head confines it to 10 and makes the measurement ~3x noisier)."""
    x = "x"
    for i in range(depth):
        x = b.activation(b.dense(x, "fc%d" % i, width, width, activation, style), activation, "act%d" % i)
    y = b.dense(x, "fc%d" % depth, width, width, "linear", style)
    return b.model("mlp", ["N", width], y, ["N", width])


def cnn_relu(b, depth=6, channels=256, grouped_layer=3, groups=4, side=8, classes=10):
    """Plain 3x3 conv net without normalization; layer `grouped_layer` is a grouped convolution.
    256 channels: a layer's realized gain varies with ~1/channels, and at 64 channels ten layers
    leave an 8-seed average 9% (1 s.e.) from its expectation, too close to a 10% target; 8x8
    positions keep the numpy backward pass affordable (and make zero padding matter: 44% of the
    positions are on the border)."""
    x = "x"
    c_in = 3
    for i in range(depth):
        g = groups if i == grouped_layer else 1
        x = b.activation(b.conv(x, "conv%d" % i, c_in, channels, "relu", groups=g), "relu", "relu%d" % i)
        c_in = channels
    x = b.node("Flatten", [x], "flatten", axis=1)
    y = b.dense(x, "fc", channels * side * side, classes, "linear", "gemm")
    return b.model("cnn", ["N", 3, side, side], y, ["N", classes])


def resnet_small(b, blocks=3, channels=32, side=16, classes=10):
    """A stem conv, then residual blocks relu(x + conv_b(relu(conv_a(x)))) without normalization
    (conv_b's bias is a separate Add, as in graphs with folded or split biases), then global
    average pooling and a linear head."""
    x = b.activation(b.conv("x", "stem", 3, channels, "relu"), "relu", "stem.relu")
    for i in range(blocks):
        name = "block%d" % i
        h = b.activation(b.conv(x, name + ".conv_a", channels, channels, "relu"), "relu", name + ".relu_a")
        r = b.conv(h, name + ".conv_b", channels, channels, "relu", bias="add")
        x = b.activation(b.node("Add", [x, r], name + ".residual"), "relu", name + ".relu")
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x], "pool")], "flatten", axis=1)
    y = b.dense(x, "fc", channels, classes, "linear", "gemm")
    return b.model("resnet", ["N", 3, side, side], y, ["N", classes])


# name -> builder. The first three are the targets; the others widen what is measured.
MODELS = {
    "mlp_relu_50x512": lambda b: mlp(b, 50, 512, "relu", "matmul"),
    "mlp_tanh_50x512": lambda b: mlp(b, 50, 512, "tanh", "gemm"),
    "mlp_selu_20x256": lambda b: mlp(b, 20, 256, "selu", "gemm"),
    "mlp_gelu_20x256": lambda b: mlp(b, 20, 256, "gelu", "matmul"),
    "mlp_leaky_relu_20x256": lambda b: mlp(b, 20, 256, "leaky_relu", "gemm"),
    "mlp_sigmoid_20x256": lambda b: mlp(b, 20, 256, "sigmoid", "gemm"),
    "cnn_relu": cnn_relu,
    "resnet_small": resnet_small,
}


def build(name, init="small", seed=0):
    """The model `name` as an onnx.ModelProto, weights drawn by `init` from numpy's `seed`."""
    return MODELS[name](Builder(init, np.random.default_rng(seed)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--init", choices=["small", "note"], default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for name in MODELS:
        path = os.path.join(args.outdir, name + ".onnx")
        onnx.save(build(name, args.init, args.seed), path)
        print("wrote", path)


if __name__ == "__main__":
    main()
