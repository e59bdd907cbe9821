#!/usr/bin/python3
"""The baseline: what a user would otherwise write with onnx + numpy to do onnx-reinit's job on an MLP or
CNN — find each Gemm/MatMul/Conv weight, its fans and the activation after it, draw He or Xavier
uniform values, zero the biases, save.

usage: baseline_reinit.py IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

RELU_FAMILY = {"Relu", "LeakyRelu", "Elu", "Gelu", "HardSwish", "Mish", "Softplus"}


def main():
    model = onnx.load(sys.argv[1])  # reads external data too
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    rng = np.random.default_rng(0)
    for init in graph.initializer:
        uses = consumers.get(init.name, [])
        if not uses or init.data_type != onnx.TensorProto.FLOAT:
            continue
        node, index = uses[0]
        w = numpy_helper.to_array(init)
        if node.op_type in ("Gemm", "MatMul", "Conv") and index == 1:
            if node.op_type == "Gemm":
                trans_b = any(a.name == "transB" and a.i for a in node.attribute)
                fan_out, fan_in = w.shape if trans_b else w.shape[::-1]
            elif node.op_type == "MatMul":
                fan_in, fan_out = w.shape[-2], w.shape[-1]
            else:
                rf = int(np.prod(w.shape[2:]))
                fan_in, fan_out = w.shape[1] * rf, w.shape[0] * rf
            after = consumers.get(node.output[0], [])
            relu = any(n.op_type in RELU_FAMILY for n, _ in after)
            bound = np.sqrt(6.0 / fan_in) if relu else np.sqrt(6.0 / (fan_in + fan_out))
            new = rng.uniform(-bound, bound, size=w.shape).astype(np.float32)
        elif index == 2:
            new = np.zeros_like(w)
        else:
            continue
        init.CopyFrom(numpy_helper.from_array(new, init.name))
    onnx.save_model(model, sys.argv[2])


if __name__ == "__main__":
    main()
