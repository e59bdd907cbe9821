#!/usr/bin/python3
"""Copies a model with every float node output added as a graph output, so ONNX Runtime returns the
intermediate tensors (pre-activations, activations) that the audit test measures.

usage: expose_outputs.py IN OUT
"""
import sys

import onnx
from onnx import TensorProto, helper, shape_inference


def _without_weights(model):
    """A copy whose initializers are graph inputs of the same type and shape: shape inference
    serializes the model it is given, and 50 layers of 512x512 weights would cost it a second."""
    light = onnx.ModelProto()
    light.CopyFrom(model)
    inits = light.graph.initializer
    inputs = {i.name for i in light.graph.input}
    light.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                             for t in inits if t.name not in inputs)
    del inits[:]
    return light


def expose(model):
    """Adds (in place) every float node output that is not yet a graph output, in node order.
    Constant nodes are skipped: they carry no signal. Types come from shape inference (the shapes
    are left out: a symbolic batch dimension would only be repeated)."""
    inferred = shape_inference.infer_shapes(_without_weights(model))
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    types.update({v.name: v.type.tensor_type.elem_type for v in inferred.graph.output})
    graph = model.graph
    present = {o.name for o in graph.output}
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for name in node.output:
            if name and name not in present and types.get(name) == TensorProto.FLOAT:
                graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
                present.add(name)
    return model


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: expose_outputs.py IN OUT")
    onnx.save(expose(onnx.load(sys.argv[1])), sys.argv[2])


if __name__ == "__main__":
    main()
