#!/usr/bin/python3
"""Writes a benchmark model: an MLP of square Gemm layers with ReLU, of about SIZE_MB megabytes.

usage: make_bench_model.py OUT.onnx SIZE_MB [--external | --constants | --if | --loop]
With --external all weights go to OUT.onnx.data (ONNX external data), for models over protobuf's 2 GB.
With --constants the weights and biases are the values of Constant nodes instead of initializers; with
--if the whole MLP, its weights as initializers of the branch, is the then-branch of an If (the else
branch passes the input through); with --loop it is the body of a Loop, its weights initializers of the
body.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out, size_mb = sys.argv[1], float(sys.argv[2])
    external = "--external" in sys.argv
    constants = "--constants" in sys.argv
    in_if = "--if" in sys.argv
    in_loop = "--loop" in sys.argv
    width = 4096 if size_mb >= 1000 else 2048
    layer_bytes = width * width * 4
    layers = max(1, int(round(size_mb * 1e6 / layer_bytes)))
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev = "h" if in_loop else "x"
    for i in range(layers):
        w = f"layer{i}.weight"
        b = f"layer{i}.bias"
        # Distinct random values so no exporter-style deduplication could apply.
        tensors = [numpy_helper.from_array(rng.standard_normal((width, width), dtype=np.float32) * 0.01, w),
                   numpy_helper.from_array(np.zeros(width, dtype=np.float32), b)]
        if constants:
            nodes += [helper.make_node("Constant", [], [t.name], value=t) for t in tensors]
        else:
            inits += tensors
        nodes.append(helper.make_node("Gemm", [prev, w, b], [f"h{i}"], transB=1))
        nodes.append(helper.make_node("Relu", [f"h{i}"], [f"a{i}"]))
        prev = f"a{i}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])
    if in_if:
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])
        then_branch = helper.make_graph(nodes, "mlp", [], [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])],
                                        inits)
        else_branch = helper.make_graph([helper.make_node("Identity", ["x"], ["passed"])], "pass", [],
                                        [helper.make_tensor_value_info("passed", TensorProto.FLOAT, [1, width])])
        cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
        graph = helper.make_graph([helper.make_node("If", ["cond"], ["y"], then_branch=then_branch,
                                                    else_branch=else_branch)], "bench", [cond, x], [y])
    elif in_loop:
        body = helper.make_graph(
            nodes + [helper.make_node("Identity", ["cond_in"], ["cond_out"])], "mlp",
            [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
             helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, width])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])], inits)
        inputs = [helper.make_tensor_value_info("n", TensorProto.INT64, []),
                  helper.make_tensor_value_info("cond", TensorProto.BOOL, []), x]
        graph = helper.make_graph([helper.make_node("Loop", ["n", "cond", "x"], ["y"], body=body)], "bench", inputs,
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])])
    else:
        graph = helper.make_graph(nodes, "bench", [x], [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])],
                                  inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    if external:
        onnx.save_model(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=out.split("/")[-1] + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, out)
    print(out, layers, "layers of", width, "x", width)


if __name__ == "__main__":
    main()
