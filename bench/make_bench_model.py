#!/usr/bin/python3
"""Writes a benchmark model: an MLP of square Gemm layers with ReLU, of about SIZE_MB megabytes.

usage: make_bench_model.py OUT.onnx SIZE_MB [--external]
With --external all weights go to OUT.onnx.data (ONNX external data), for models over protobuf's 2 GB.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out, size_mb = sys.argv[1], float(sys.argv[2])
    external = "--external" in sys.argv
    width = 4096 if size_mb >= 1000 else 2048
    layer_bytes = width * width * 4
    layers = max(1, int(round(size_mb * 1e6 / layer_bytes)))
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev = "x"
    for i in range(layers):
        w = f"layer{i}.weight"
        b = f"layer{i}.bias"
        # Distinct random values so no exporter-style deduplication could apply.
        inits.append(numpy_helper.from_array(rng.standard_normal((width, width), dtype=np.float32) * 0.01, w))
        inits.append(numpy_helper.from_array(np.zeros(width, dtype=np.float32), b))
        nodes.append(helper.make_node("Gemm", [prev, w, b], [f"h{i}"], transB=1))
        nodes.append(helper.make_node("Relu", [f"h{i}"], [f"a{i}"]))
        prev = f"a{i}"
    graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    if external:
        onnx.save_model(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=out.split("/")[-1] + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, out)
    print(out, layers, "layers of", width, "x", width)


if __name__ == "__main__":
    main()
