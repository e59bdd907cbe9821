#!/usr/bin/python3
"""Builds models/graphs/: small ONNX models of the exporter structures of issue 11, and expected.json,
the decisions a correct tool makes on them.

Run from the repository root:

    /usr/bin/python3 models/make_graphs.py                      # (re)writes models/graphs/*.onnx and expected.json
    /usr/bin/python3 models/make_graphs.py --compare TOOL       # runs TOOL (an onnx-reinit binary) on every model
                                                                # and prints where it disagrees with expected.json

Needs Debian's python3-onnx (1.12), python3-numpy and python3-torch (the `torch` models are real
torch.onnx.export outputs of torch 1.13; the `helper` models are built with onnx.helper). Every
random value comes from a fixed seed, so re-running gives the same files. Nothing is downloaded.

expected.json: {"format", "models": [{model, source, opset, tests, ort}], "expectations": [...]}.
Each expectation names its "model", optionally "args" (extra flags for plan/rewrite; default none),
a "why", and one of:
  - "tensor" (+ "graph" when it lives in a subgraph, as the report writes it) and "expect": report
    fields the tensor's entry must have: role, activation, scheme, action (reinitialized/kept),
    fan_in, fan_out, gate_blocks, std, value. A list means "any of these values".
  - "same": [A, B] and "relation": "identical" (A and B byte-identical after a rewrite) or
    "transpose" (B == A transposed after a rewrite).
  - "run": {command, exit, stderr_contains, timeout_s, setup, fifo}: what running the tool on a
    copy of the model in an empty temporary directory must do (exit may be a list of acceptable
    codes; setup says in words what the test prepares first; fifo names a FIFO it creates there).

Models (H = hidden size; "correct" is the decision of a correct tool under the default `note` preset):

1. Recurrent weights behind gate reordering, and weights assembled or split by graph ops
   lstmcell_nofold / lstmcell_fold   torch nn.LSTMCell(6, 8), opset 14, constant folding off / on.
       torch exports no LSTM op: two Gemms (cell.weight_ih [32,6], cell.weight_hh [32,8], transB) whose
       sum is Split into 4 gates (i, f, g, o) -> Sigmoid/Tanh. Correct: weight_ih Xavier per gate block
       (fan_in 6, fan_out 8), weight_hh orthogonal per 8x8 gate block, biases 0. Both exports are the same.
   grucell_nofold / grucell_fold     torch nn.GRUCell(6, 8): the same with 3 gates (r, z, n).
   lstm_nofold                       torch nn.LSTM(6, 8), folding off: rnn.weight_ih_l0 [32,6],
       rnn.weight_hh_l0 [32,8], rnn.bias_ih_l0/bias_hh_l0 [32] reach LSTM inputs 1/2/3 through
       Slice(axis 0) x3 + Concat (torch ifgo -> ONNX iofc) + Unsqueeze; the biases as two such
       Concats concatenated. Correct: recurrent W Xavier per gate, R orthogonal per gate, biases 0.
   lstm_fold                         the same with folding on: onnx::LSTM_* initializers (comparison).
   gru_nofold                        torch nn.GRU(6, 8), folding off (torch rzn -> ONNX zrh).
   qkv_split                         helper: attn.qkv.weight [16,48] -> Split(axis 1) -> three MatMuls,
       attn.qkv.bias [48] -> Split -> three Adds. Correct: weight, Xavier, fan_in 16 (fan_out 16 per
       projection, or 48 as torch's xavier_uniform_(in_proj_weight)); bias 0.
   concat_weight                     helper: fc.weight_a [10,16] and fc.weight_b [6,16] -> Concat(axis 0)
       -> MatMul -> Add -> Relu. Correct: both He with fan_in 16 (the assembled matrix), not 10 or 6.
2. Parameters duplicated across branches
   if_script_shared                  torch.jit.script, `if bool(flag)` with the same Linear in both
       branches: torch 1.13 does NOT copy the weights into the bodies; with folding the transposed
       weight becomes one initializer (named "19"), read directly and through an Identity. Correct: He.
   if_dup_init                       helper: If whose then/else bodies each hold their own byte-identical
       initializer copy of a Gemm weight and bias (then.fc.*, else.fc.*). Correct: He for the weights,
       0 for the biases, and the copies byte-identical after a rewrite.
   if_dup_const                      helper: the same with the copies as Constant nodes in the bodies.
   tied_head_fold                    torch: nn.Embedding(50, 16) tied to the Linear head, folding on;
       the exporter stores the head as onnx::MatMul_* [16,50] = emb.weight transposed. Correct: the
       embedding decides (N(0,1)) and the head copy stays its transpose.
   if_two_heads                      torch.jit.script: trunk Linear + ReLU, then `if flag: head_a else
       head_b` (the heads inside the If bodies). Correct: --reinit-last 1 re-initializes both heads
       (the last layer on each path) and keeps the trunk; --reinit-last 2 takes the trunk too.
3. Activation search (each layer's activation; He for the ReLU family, Xavier for sigmoid/linear)
   ln_relu                torch Linear -> LayerNorm (decomposed at opset 14) -> ReLU: fc.weight relu.
   densenet_concat        torch: conv -> Concat -> BN -> ReLU, and transition conv -> AvgPool -> Concat ->
                          BN -> ReLU: every conv relu.
   folded_bn_hardswish    helper (Paddle2ONNX style): Conv -> Mul(bn_folded.scale) -> Add(bn_folded.shift)
                          -> x * Clip(x + 3, 0, 6) / 6: conv.weight hardswish; the folded BN scale 1, shift 0.
   fp16_resize            helper float16: Conv -> Cast -> Resize -> Cast -> Sigmoid: conv.weight sigmoid.
   passthrough_ops        helper opset 13: Conv -> Slice / Split / Pad / Gather / SpaceToDepth /
                          DepthToSpace -> Relu, one conv per op: every conv relu.
   upsample_opset9        helper opset 9: Conv -> Upsample -> Relu: relu.
   convinteger_dequant    helper: DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(scale) -> Add(bias)
                          -> Relu: the uint8 weight is kept (quantized) with activation relu; its float
                          bias belongs to the quantized layer and is kept too.
   shape_consumer         helper: Conv output feeds Shape (-> Reshape of another input) and Relu: relu.
   clip_relu              helper: Clip(min 0, no max) and Clip(min 1e-10, max +inf): both relu.
   quick_gelu             helper: x * Sigmoid(1.702 * x) (QuickGELU, CLIP): ReLU family (gelu), He.
4. Fans of strided convolutions
   vit_patch_embed        torch ViT stem: Conv(3->64, kernel 8, stride 8) + class token + positional
                          embedding + LayerNorm + head. Correct: patch conv Xavier with fan_in 192 and
                          fan_out 64 (= 64*8*8 / (8*8): each input pixel reaches one output position).
5. Fixed signal-processing constants (must be kept), next to one learnable layer
   stft_mel               torch: Conv1d whose weight stft_basis [66,1,64] is a Hann-windowed real DFT
                          basis (33 cos + 33 sin rows, n_fft 64, hop 16), power, MatMul with mel_fb [33,16]
                          (Slaney mel filterbank, sr 8000), log, then classifier Linear(16, 8) -> ReLU
                          (its weight folded to onnx::MatMul_29 [16,8]). Correct: stft_basis and mel_fb
                          kept; the classifier weight He, its bias 0.
   gaussian_blur          torch: depthwise Conv with blur_kernel [3,1,5,5] (Gaussian, sigma 1, each
                          5x5 sums to 1), then conv Conv2d(3, 8, 3) -> ReLU. Correct: blur_kernel kept.
6. Nothing to do: a rewrite must exit 2 ("nothing to re-initialize")
   all_quantized          helper QDQ: every weight int8 (biases int32) behind DequantizeLinear.
   only_fixed_frontend    torch: the STFT + mel + log front end of stft_mel alone (only fixed constants).
7. Hostile inputs (they do not run in ONNX Runtime; the tool must not hang or crash, and must warn)
   cycle                  helper: Add -> Conv -> Relu -> back into the Add (cycle.weight inside the cycle).
   dangling_input         helper: Conv -> Add(., "ghost") -> Relu, "ghost" produced by nothing.
   external_fifo          helper: fc.weight's external data location is "fc.weight.bin"; the test copies
                          the model to a temporary directory, runs `mkfifo fc.weight.bin` there, and the
                          tool must refuse it (exit 3, not a regular file) without blocking on the open.
                          No FIFO is committed.
   string_weight          helper: a string tensor as MatMul input 1 (string_weight [16,4]): kept, with a
                          warning naming it; the ordinary fc layer before it is still re-initialized.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.numpy_helper as nh
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "graphs")

MODELS = []        # {model, source, opset, tests, ort}
EXPECTATIONS = []  # see the docstring

# ----------------------------------------------------------------------------------------------------
# Bookkeeping


def model_info(model, source, opset, tests, ort=True):
    MODELS.append({"model": model, "source": source, "opset": opset, "tests": tests, "ort": ort})


def expect(model, tensor, why, graph=None, args=None, **fields):
    entry = {"model": model, "tensor": tensor}
    if graph is not None:
        entry["graph"] = graph
    if args:
        entry["args"] = list(args)
    entry["expect"] = fields
    entry["why"] = why
    EXPECTATIONS.append(entry)


def same(model, a, b, relation, why):
    EXPECTATIONS.append({"model": model, "same": [a, b], "relation": relation, "why": why})


def run(model, why, command, exit_code, stderr_contains=(), args=None, setup=None, fifo=None, timeout_s=20):
    spec = {"command": command, "exit": exit_code, "stderr_contains": list(stderr_contains),
            "timeout_s": timeout_s}
    if setup:
        spec["setup"] = setup
    if fifo:
        spec["fifo"] = fifo
    entry = {"model": model}
    if args:
        entry["args"] = list(args)
    entry["run"] = spec
    entry["why"] = why
    EXPECTATIONS.append(entry)


def rng(seed):
    return np.random.default_rng(seed)


def tensor(name, array):
    return nh.from_array(np.ascontiguousarray(array), name)


def uniform(seed, shape, bound=0.5, dtype=np.float32):
    return rng(seed).uniform(-bound, bound, size=shape).astype(dtype)


def save_helper(graph, name, opset, check=True, ir_version=8):
    model = helper.make_model(graph, producer_name="make_graphs.py",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    if check:
        onnx.checker.check_model(model)
    path = os.path.join(OUT, name)
    onnx.save(model, path)
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")
    return model


def vinfo(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


F = TensorProto.FLOAT


def node_input(model_proto, node_name, index):
    """Name of input `index` of the main-graph node called `node_name`."""
    return next(n.input[index] for n in model_proto.graph.node if n.name == node_name)


def consumer_input(model_proto, op_type, index, graph=None):
    """Name of the tensor at input `index` of the first `op_type` node (searching bodies too)."""
    graphs = [graph or model_proto.graph]
    while graphs:
        g = graphs.pop(0)
        for node in g.node:
            if node.op_type == op_type and len(node.input) > index:
                return node.input[index]
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    graphs.append(a.g)
    raise KeyError(f"no {op_type} input {index}")


# ----------------------------------------------------------------------------------------------------
# torch exports

def torch_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as fn

    def export(module, example, name, opset=14, fold=True, input_names=None, output_names=None):
        module.eval()
        path = os.path.join(OUT, name)
        torch.onnx.export(module, example, path, opset_version=opset, do_constant_folding=fold,
                          input_names=input_names, output_names=output_names)
        print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")
        return onnx.load(path)

    src = lambda fold: f"torch {torch.__version__.split('+')[0]} torch.onnx.export, do_constant_folding={fold}"

    # --- 1. recurrent cells and layers ---------------------------------------------------------
    class LSTMCellNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(6, 8)

        def forward(self, x, h, c):
            return self.cell(x, (h, c))

    class GRUCellNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(6, 8)

        def forward(self, x, h):
            return self.cell(x, h)

    for kind, cls, gates, inputs in [("lstmcell", LSTMCellNet, 4, ["x", "h", "c"]),
                                     ("grucell", GRUCellNet, 3, ["x", "h"])]:
        for fold in (False, True):
            torch.manual_seed(11)
            net = cls()
            example = tuple(torch.randn(2, 6 if n == "x" else 8) for n in inputs)
            name = f"{kind}_{'fold' if fold else 'nofold'}.onnx"
            export(net, example, name, fold=fold, input_names=inputs,
                   output_names=["h_next", "c_next"] if gates == 4 else ["h_next"])
            order = "i, f, g, o" if gates == 4 else "r, z, n"
            model_info(name, src(fold), 14,
                       f"nn.{'LSTMCell' if gates == 4 else 'GRUCell'}(6, 8): exported as two Gemms "
                       f"(transB) + Split into {gates} gates ({order}) + Sigmoid/Tanh, no recurrent op; "
                       "the Gemm weights' row blocks are gates")
            why_w = (f"input-to-hidden weight of a {kind[:-4].upper()} cell: {gates} row blocks ({order}), "
                     "each an 8x6 gate matrix -> Xavier per gate block (fan_in 6, fan_out 8), as for "
                     "LSTM/GRU input W; Xavier over the whole [%d,6] (fan_out %d) is wrong" % (gates * 8, gates * 8))
            why_r = (f"hidden-to-hidden (recurrent) weight of a {kind[:-4].upper()} cell: {gates} row blocks, "
                     "each 8x8 -> orthogonal per gate block, as the note recommends for recurrent weights")
            expect(name, "cell.weight_ih", why_w, role="recurrent_input_weight", scheme="xavier",
                   gate_blocks=gates, fan_in=6, fan_out=8, action="reinitialized")
            expect(name, "cell.weight_hh", why_r, role="recurrent_hidden_weight", scheme="orthogonal",
                   gate_blocks=gates, fan_in=8, fan_out=8, action="reinitialized")
            for b in ("cell.bias_ih", "cell.bias_hh"):
                expect(name, b, "gate bias -> 0 (with --forget-bias B: the f rows 8:16 of bias_ih get B "
                       "for the LSTM cell, torch order i, f, g, o)" if gates == 4 else "gate bias -> 0",
                       role=["recurrent_bias", "bias"], scheme="constant", value=0.0, action="reinitialized")

    class Seq(nn.Module):
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            out, _ = self.rnn(x)
            return out

    for kind, cls, gates, fold in [("lstm", nn.LSTM, 4, False), ("lstm", nn.LSTM, 4, True),
                                   ("gru", nn.GRU, 3, False)]:
        torch.manual_seed(12)
        net = Seq(cls(6, 8, batch_first=True))
        name = f"{kind}_{'fold' if fold else 'nofold'}.onnx"
        m = export(net, (torch.randn(1, 5, 6),), name, fold=fold, input_names=["x"], output_names=["y"])
        op = kind.upper()
        if fold:
            w, r, b = (consumer_input(m, op, i) for i in (1, 2, 3))
            tests = (f"nn.{op}(6, 8) with folding on: the gate reordering is baked into {w} [1,32,6], "
                     f"{r} [1,32,8], {b} [1,64] read directly by the {op} op (comparison case)")
            where = "direct"
        else:
            w, r = "rnn.weight_ih_l0", "rnn.weight_hh_l0"
            b = None
            tests = (f"nn.{op}(6, 8) with folding off: rnn.weight_ih_l0/weight_hh_l0 reach {op} inputs "
                     "1/2 through Slice(axis 0) x3 + Concat + Unsqueeze (torch "
                     + ("ifgo -> ONNX iofc" if gates == 4 else "rzn -> ONNX zrh")
                     + "); bias_ih/bias_hh through the same and one more Concat to input 3")
            where = "behind Slice + Concat + Unsqueeze"
        model_info(name, src(fold), 14, tests)
        expect(name, w, f"{op} input weight W ({where}): Xavier per gate block, fan_in 6, fan_out 8",
               role="recurrent_input_weight", scheme="xavier", gate_blocks=gates, fan_in=6, fan_out=8,
               action="reinitialized")
        expect(name, r, f"{op} recurrent weight R ({where}): orthogonal per 8x8 gate block "
               "(Slice boundaries fall on gate boundaries, so each block stays a whole gate)",
               role="recurrent_hidden_weight", scheme="orthogonal", gate_blocks=gates, fan_in=8, fan_out=8,
               action="reinitialized")
        for bias in ([b] if b else ["rnn.bias_ih_l0", "rnn.bias_hh_l0"]):
            expect(name, bias, f"{op} bias ({where}) -> 0", role="recurrent_bias", scheme="constant",
                   value=0.0, action="reinitialized")

    # --- 2. shared weights across If branches, tied head, two heads ---------------------------
    class IfShared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.head = nn.Linear(8, 4)

        def forward(self, x, flag):
            if bool(flag):
                y = torch.relu(torch.matmul(x, self.fc.weight.t()) + self.fc.bias)
            else:
                y = torch.relu(torch.matmul(x * 2.0, self.fc.weight.t()) + self.fc.bias)
            return self.head(y)

    torch.manual_seed(21)
    name = "if_script_shared.onnx"
    m = export(torch.jit.script(IfShared().eval()), (torch.randn(2, 8), torch.tensor(True)), name,
               input_names=["x", "flag"], output_names=["y"])
    shared = consumer_input(m, "MatMul", 1)
    model_info(name, src(True) + ", torch.jit.script", 14,
               "If on a bool input with the same Linear in both branches: torch keeps ONE copy in the main "
               f"graph (folded transpose, initializer {shared}), read by the then body directly and by the "
               "else body through an Identity; the bodies hold no weights")
    expect(name, shared, "fc weight (transposed by folding) used in both branches, each followed by "
           "Add -> Relu: He, fan_in 8", role="weight", activation="relu", scheme="he", fan_in=8, fan_out=8,
           action="reinitialized")
    expect(name, "fc.bias", "bias of the shared fc -> 0", role="bias", scheme="constant", value=0.0,
           action="reinitialized")
    expect(name, "head.weight", "head after the If, no nonlinearity -> Xavier", role="weight",
           activation="linear", scheme="xavier", action="reinitialized")

    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.fc = nn.Linear(16, 16)
            self.ln = nn.LayerNorm(16)
            self.head = nn.Linear(16, 50, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, ids):
            h = self.emb(ids)
            h = h + torch.relu(self.fc(h))
            return self.head(self.ln(h))

    torch.manual_seed(22)
    lm = TiedLM()
    with torch.no_grad():
        lm.ln.weight.uniform_(0.5, 1.5)
        lm.ln.bias.normal_(0, 0.1)
    name = "tied_head_fold.onnx"
    m = export(lm, (torch.randint(0, 50, (1, 5)),), name, input_names=["ids"], output_names=["logits"])
    inits = {i.name: nh.to_array(i) for i in m.graph.initializer}
    head = [n for n, a in inits.items() if a.shape == (16, 50)]
    assert len(head) == 1 and np.array_equal(inits[head[0]], inits["emb.weight"].T), head
    head = head[0]
    fc = [n for n, a in inits.items() if a.shape == (16, 16)][0]
    model_info(name, src(True), 14,
               f"nn.Embedding(50, 16) tied to the Linear head: folding stores the head as {head} [16,50], "
               "a separate initializer equal to emb.weight transposed (no Transpose node is left)")
    expect(name, "emb.weight", "token embedding decides: N(0, 1)", role="embedding", scheme="normal",
           std=1.0, action="reinitialized")
    expect(name, head, "transposed copy of the tied embedding: must be re-drawn as the embedding's "
           "transpose (N(0, 1)), not as an independent Xavier head", scheme="normal", std=1.0,
           action="reinitialized")
    same(name, "emb.weight", head, "transpose",
         f"{head} is emb.weight transposed by constant folding; a rewrite that re-draws one must re-draw "
         "the other as its transpose, or the tie is silently broken")
    expect(name, fc, "fc weight (folded transpose) -> Relu: He", role="weight", activation="relu",
           scheme="he", fan_in=16, action="reinitialized")
    expect(name, "ln.weight", "decomposed LayerNorm scale -> 1", role="norm_scale", scheme="constant",
           value=1.0, action="reinitialized")
    expect(name, "ln.bias", "decomposed LayerNorm bias -> 0", role="norm_bias", scheme="constant",
           value=0.0, action="reinitialized")

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Linear(8, 16)
            self.head_a = nn.Linear(16, 4)
            self.head_b = nn.Linear(16, 4)

        def forward(self, x, flag):
            h = torch.relu(self.trunk(x))
            if bool(flag):
                y = self.head_a(h)
            else:
                y = self.head_b(h)
            return y

    torch.manual_seed(23)
    name = "if_two_heads.onnx"
    export(torch.jit.script(TwoHeads().eval()), (torch.randn(2, 8), torch.tensor(True)), name,
           input_names=["x", "flag"], output_names=["y"])
    model_info(name, src(True) + ", torch.jit.script", 14,
               "trunk Gemm + Relu in the main graph, then an If whose then body holds head_a's Gemm and "
               "else body head_b's (weights are main-graph initializers read from the bodies)")
    for h in ("head_a", "head_b"):
        expect(name, f"{h}.weight", "the last layer on its path: --reinit-last 1 takes it",
               args=["--reinit-last", "1"], action="reinitialized", scheme="xavier")
        expect(name, f"{h}.bias", "bias of a last layer: taken with it", args=["--reinit-last", "1"],
               action="reinitialized", scheme="constant", value=0.0)
        expect(name, f"{h}.weight", "--reinit-last 2: head + trunk on each path",
               args=["--reinit-last", "2"], action="reinitialized")
    expect(name, "trunk.weight", "not among the last 1 layer of either path", args=["--reinit-last", "1"],
           action="kept")
    expect(name, "trunk.weight", "the second-to-last layer on both paths", args=["--reinit-last", "2"],
           action="reinitialized", scheme="he", activation="relu")

    # --- 3. activation search (torch parts) ---------------------------------------------------
    class LnRelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 32)
            self.ln = nn.LayerNorm(32)
            self.head = nn.Linear(32, 4)

        def forward(self, x):
            return self.head(torch.relu(self.ln(self.fc(x))))

    torch.manual_seed(31)
    net = LnRelu()
    with torch.no_grad():
        net.ln.weight.uniform_(0.5, 1.5)
        net.ln.bias.normal_(0, 0.1)
    name = "ln_relu.onnx"
    export(net, (torch.randn(2, 16),), name, input_names=["x"], output_names=["y"])
    model_info(name, src(True), 14,
               "Linear -> LayerNorm -> ReLU; at opset 14 LayerNorm is decomposed into "
               "ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, which the search must walk through")
    expect(name, "fc.weight", "Gemm -> decomposed LayerNorm -> Relu: relu -> He (fan_in 16)", role="weight",
           activation="relu", scheme="he", fan_in=16, action="reinitialized")
    expect(name, "ln.weight", "decomposed LayerNorm scale -> 1", role="norm_scale", scheme="constant",
           value=1.0, action="reinitialized")
    expect(name, "ln.bias", "decomposed LayerNorm bias -> 0", role="norm_bias", scheme="constant",
           value=0.0, action="reinitialized")
    expect(name, "head.weight", "classifier head -> Xavier", role="weight", activation="linear",
           scheme="xavier", action="reinitialized")

    class DenseNetLike(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.norm1 = nn.BatchNorm2d(8)
            self.conv1 = nn.Conv2d(8, 4, 3, padding=1, bias=False)      # dense layer 1: 8 -> +4
            self.norm_t = nn.BatchNorm2d(12)
            self.conv_t = nn.Conv2d(12, 8, 1, bias=False)               # transition: 12 -> 8, pool
            self.norm2 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 4, 3, padding=1, bias=False)      # dense layer 2: 8 -> +4
            self.norm_f = nn.BatchNorm2d(12)
            self.fc = nn.Linear(12, 5)

        def forward(self, x):
            s = self.stem(x)
            f1 = self.conv1(torch.relu(self.norm1(torch.cat([s], 1))))
            t = fn.avg_pool2d(self.conv_t(torch.relu(self.norm_t(torch.cat([s, f1], 1)))), 2)
            f2 = self.conv2(torch.relu(self.norm2(torch.cat([t], 1))))
            y = torch.relu(self.norm_f(torch.cat([t, f2], 1)))
            return self.fc(torch.flatten(fn.adaptive_avg_pool2d(y, 1), 1))

    torch.manual_seed(32)
    net = DenseNetLike()
    for mod in net.modules():
        if isinstance(mod, nn.BatchNorm2d):
            nn.init.uniform_(mod.weight, 0.5, 1.5)
            nn.init.normal_(mod.bias, 0.0, 0.1)
            mod.running_mean.normal_(0.0, 0.1)
            mod.running_var.uniform_(0.5, 2.0)
    name = "densenet_concat.onnx"
    export(net, (torch.randn(1, 3, 8, 8),), name, input_names=["x"], output_names=["y"])
    model_info(name, src(True), 14,
               "DenseNet-style: conv1 -> Concat -> BatchNormalization -> Relu; transition conv_t -> "
               "AveragePool -> Concat -> BN -> Relu; conv2 -> Concat -> BN -> Relu (BN after a Concat "
               "cannot be folded, so it stays a BatchNormalization node)")
    for conv, path in [("stem.weight", "Concat -> BN -> Relu (both consumers)"),
                       ("conv1.weight", "Concat -> BN -> Relu"),
                       ("conv_t.weight", "AveragePool -> Concat -> BN -> Relu"),
                       ("conv2.weight", "Concat -> BN -> Relu")]:
        expect(name, conv, f"Conv -> {path}: relu -> He", role="weight", activation="relu", scheme="he",
               action="reinitialized")
    for bn in ("norm1", "norm_t", "norm2", "norm_f"):
        expect(name, f"{bn}.weight", "BatchNorm scale -> 1", role="norm_scale", scheme="constant",
               value=1.0, action="reinitialized")
        expect(name, f"{bn}.running_var", "BatchNorm running var -> 1", role="norm_running_var",
               scheme="constant", value=1.0, action="reinitialized")

    # --- 4. strided conv fans -----------------------------------------------------------------
    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_proj = nn.Conv2d(3, 64, kernel_size=8, stride=8)
            self.class_token = nn.Parameter(torch.zeros(1, 1, 64))
            self.pos_embedding = nn.Parameter(torch.empty(1, 17, 64).normal_(std=0.02))
            self.ln = nn.LayerNorm(64)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            p = self.conv_proj(x).flatten(2).transpose(1, 2)                # [n, 16, 64]
            t = torch.cat([self.class_token.expand(x.shape[0], -1, -1), p], 1)
            t = self.ln(t + self.pos_embedding)
            return self.head(t[:, 0])

    torch.manual_seed(41)
    net = PatchEmbed()
    with torch.no_grad():
        net.class_token.normal_(0, 0.02)  # trained-looking (zeros would be deduplicated with other zeros)
    name = "vit_patch_embed.onnx"
    export(net, (torch.randn(1, 3, 32, 32),), name, input_names=["x"], output_names=["y"])
    model_info(name, src(True), 14,
               "ViT patch embedding Conv(3->64, kernel 8, stride 8) on 32x32 (16 patches) + class token + "
               "positional embedding + LayerNorm + head")
    expect(name, "conv_proj.weight",
           "kernel 8 == stride 8: each input pixel reaches exactly one output position, so fan_out = "
           "64*8*8/(8*8) = 64, not 4096; fan_in 3*8*8 = 192; no nonlinearity -> Xavier(192, 64). "
           "(torchvision itself uses trunc-normal sqrt(1/fan_in) here)", role="weight", activation="linear",
           scheme="xavier", fan_in=192, fan_out=64, action="reinitialized")
    expect(name, "class_token", "class token -> 0", role="class_token", scheme="constant", value=0.0,
           action="reinitialized")
    expect(name, "pos_embedding", "positional embedding -> N(0, 0.02^2)", role="positional_embedding",
           scheme="normal", std=0.02, action="reinitialized")

    # --- 5/6. fixed signal-processing constants -------------------------------------------------
    basis, mel = stft_basis(), mel_filterbank()

    class Frontend(nn.Module):
        def __init__(self, classify):
            super().__init__()
            self.register_buffer("stft_basis", torch.from_numpy(basis))
            self.register_buffer("mel_fb", torch.from_numpy(mel))
            self.classifier = nn.Linear(16, 8) if classify else None

        def forward(self, wave):
            spec = fn.conv1d(wave, self.stft_basis, stride=16)            # [n, 66, frames]
            power = spec[:, :33] * spec[:, :33] + spec[:, 33:] * spec[:, 33:]
            logmel = torch.log(torch.matmul(power.transpose(1, 2), self.mel_fb) + 1e-6)  # [n, frames, 16]
            if self.classifier is None:
                return logmel
            return torch.relu(self.classifier(logmel)).mean(1)

    why_dft = ("fixed real DFT basis (Hann-windowed cos/sin rows, n_fft 64) used as a Conv1d weight: a "
               "signal-processing constant, not a learned filter")
    why_mel = "fixed Slaney mel filterbank (triangles, area-normalized): a constant, not a learned projection"
    for name, classify in [("stft_mel.onnx", True), ("only_fixed_frontend.onnx", False)]:
        torch.manual_seed(51)
        m = export(Frontend(classify), (torch.randn(1, 1, 304),), name, input_names=["wave"],
                   output_names=["y"])
        if classify:
            head = node_input(m, "/classifier/MatMul", 1)
            model_info(name, src(True), 14,
                       "STFT as Conv1d (stft_basis [66,1,64], stride 16) -> power -> MatMul mel_fb [33,16] "
                       f"-> Log -> classifier Linear(16, 8) (folded into {head} [16,8]) -> Relu -> mean")
            expect(name, head, "the one learnable layer (classifier.weight, transposed by folding): MatMul "
                   "-> Add -> Relu -> He", role="weight",
                   activation="relu", scheme="he", fan_in=16, action="reinitialized")
            expect(name, "classifier.bias", "its bias -> 0", role="bias", scheme="constant", value=0.0,
                   action="reinitialized")
        else:
            model_info(name, src(True), 14,
                       "the STFT + mel + log front end of stft_mel.onnx alone: only fixed constants")
            run(name, "every tensor is a fixed constant: nothing to re-initialize", "rewrite", 2,
                ["nothing to re-initialize"])
        expect(name, "stft_basis", why_dft, action="kept")
        expect(name, "mel_fb", why_mel, action="kept")

    class Blur(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("blur_kernel", torch.from_numpy(gaussian_kernel()))
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            x = fn.conv2d(x, self.blur_kernel, padding=2, groups=3)
            return torch.relu(self.conv(x)).mean((2, 3))

    torch.manual_seed(52)
    name = "gaussian_blur.onnx"
    export(Blur(), (torch.randn(1, 3, 16, 16),), name, input_names=["x"], output_names=["y"])
    model_info(name, src(True), 14,
               "depthwise Conv (group 3) with blur_kernel [3,1,5,5], a normalized Gaussian (sigma 1, "
               "each 5x5 sums to 1), then a learnable Conv(3, 8, 3) -> Relu")
    expect(name, "blur_kernel", "fixed normalized Gaussian smoothing kernel (sums to 1 per channel)",
           action="kept")
    expect(name, "conv.weight", "the learnable conv -> Relu: He (fan_in 27)", role="weight",
           activation="relu", scheme="he", fan_in=27, action="reinitialized")
    expect(name, "conv.bias", "its bias -> 0", role="bias", scheme="constant", value=0.0,
           action="reinitialized")


# ----------------------------------------------------------------------------------------------------
# Fixed signal-processing constants (numpy)

def stft_basis(n_fft=64):
    """[2*(n_fft/2+1), 1, n_fft]: Hann-windowed real DFT, cos rows then -sin rows (torch.stft's sign)."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann (torch.hann_window default)
    cos = window * np.cos(2 * np.pi * k * n / n_fft)
    sin = -window * np.sin(2 * np.pi * k * n / n_fft)
    return np.concatenate([cos, sin])[:, None, :].astype(np.float32)


def mel_filterbank(sr=8000, n_fft=64, n_mels=16):
    """[n_fft/2+1, n_mels]: Slaney-style mel triangles with area normalization (librosa's default)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
                        f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    assert (weights.sum(1) > 0).all()
    return weights.T.astype(np.float32).copy()


def gaussian_kernel(channels=3, size=5, sigma=1.0):
    ax = np.arange(size) - size // 2
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    return np.tile(g.astype(np.float32)[None, None], (channels, 1, 1, 1))


# ----------------------------------------------------------------------------------------------------
# onnx.helper models

def helper_models():
    src = "onnx.helper (onnx 1.12)"
    node = helper.make_node

    # --- 1. weights split or assembled by graph ops -------------------------------------------
    name = "qkv_split.onnx"
    inits = [tensor("attn.qkv.weight", uniform(101, (16, 48))), tensor("attn.qkv.bias", uniform(102, (48,), 0.1)),
             tensor("qkv_sizes", np.array([16, 16, 16], np.int64)),
             tensor("attn.out.weight", uniform(103, (16, 16))), tensor("attn.out.bias", uniform(104, (16,), 0.1)),
             tensor("attn.scale", np.array(0.25, np.float32))]
    nodes = [node("Split", ["attn.qkv.weight", "qkv_sizes"], ["wq", "wk", "wv"], name="split_w", axis=1),
             node("Split", ["attn.qkv.bias", "qkv_sizes"], ["bq", "bk", "bv"], name="split_b", axis=0)]
    for p in "qkv":
        nodes += [node("MatMul", ["x", "w" + p], [p + "_mm"], name=p + "_proj"),
                  node("Add", [p + "_mm", "b" + p], [p], name=p + "_bias")]
    nodes += [node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
              node("MatMul", ["q", "kt"], ["scores"]), node("Mul", ["scores", "attn.scale"], ["scaled"]),
              node("Softmax", ["scaled"], ["probs"], axis=-1), node("MatMul", ["probs", "v"], ["ctx"]),
              node("MatMul", ["ctx", "attn.out.weight"], ["o_mm"], name="out_proj"),
              node("Add", ["o_mm", "attn.out.bias"], ["y"], name="out_bias")]
    g = helper.make_graph(nodes, "qkv_split", [vinfo("x", F, [1, 4, 16])], [vinfo("y", F, [1, 4, 16])], inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "fused QKV weight [16,48] split by Split(axis 1) into three [16,16] weights "
               "before three MatMuls (and its bias split before three Adds), then attention and out_proj")
    expect(name, "attn.qkv.weight", "fused Q/K/V projection: each [16,16] part feeds a MatMul with no "
           "nonlinearity -> Xavier, fan_in 16; fan_out 16 per projection (or 48 if treated as torch's "
           "xavier_uniform_ on the whole in_proj_weight). Today's bug would be keeping it because Split is "
           "not a layout op", role="weight", activation="linear", scheme="xavier", fan_in=16, fan_out=[16, 48],
           action="reinitialized")
    expect(name, "attn.qkv.bias", "fused Q/K/V bias, split before the three Adds -> 0", role="bias",
           scheme="constant", value=0.0, action="reinitialized")
    expect(name, "qkv_sizes", "split sizes (int64)", action="kept")
    expect(name, "attn.out.weight", "output projection -> Xavier(16, 16)", role="weight", activation="linear",
           scheme="xavier", fan_in=16, fan_out=16, action="reinitialized")

    name = "concat_weight.onnx"
    inits = [tensor("fc.weight_a", uniform(111, (10, 16))), tensor("fc.weight_b", uniform(112, (6, 16))),
             tensor("fc.bias", uniform(113, (16,), 0.1)), tensor("head.weight", uniform(114, (16, 4))),
             tensor("head.bias", uniform(115, (4,), 0.1))]
    nodes = [node("Concat", ["fc.weight_a", "fc.weight_b"], ["fc.weight"], name="assemble", axis=0),
             node("MatMul", ["x", "fc.weight"], ["fc_mm"], name="fc"), node("Add", ["fc_mm", "fc.bias"], ["fc_out"]),
             node("Relu", ["fc_out"], ["h"]), node("MatMul", ["h", "head.weight"], ["head_mm"], name="head"),
             node("Add", ["head_mm", "head.bias"], ["y"])]
    g = helper.make_graph(nodes, "concat_weight", [vinfo("x", F, [1, 16])], [vinfo("y", F, [1, 4])], inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "a [16,16] MatMul weight assembled by Concat(axis 0) of fc.weight_a [10,16] and "
               "fc.weight_b [6,16] (the K axis), then Add -> Relu")
    for part in ("fc.weight_a", "fc.weight_b"):
        expect(name, part, "part of the assembled [16,16] weight, concatenated along the input (K) axis: the "
               "layer's fan_in is 16 for both parts (not 10 or 6); -> Relu: He", role="weight",
               activation="relu", scheme="he", fan_in=16, fan_out=16, action="reinitialized")
    expect(name, "fc.bias", "bias of the assembled layer -> 0", role="bias", scheme="constant", value=0.0,
           action="reinitialized")

    # --- 2. byte-identical copies in If bodies --------------------------------------------------
    w, b = uniform(121, (8, 8)), uniform(122, (8,), 0.1)
    for name, as_const in [("if_dup_init.onnx", False), ("if_dup_const.onnx", True)]:
        bodies = {}
        for branch in ("then", "else"):
            wn, bn = f"{branch}.fc.weight", f"{branch}.fc.bias"
            body_nodes, body_inits = [], []
            if as_const:
                body_nodes += [node("Constant", [], [wn], value=tensor(wn, w)),
                               node("Constant", [], [bn], value=tensor(bn, b))]
            else:
                body_inits += [tensor(wn, w), tensor(bn, b)]
            src_x = "x"
            if branch == "else":
                body_inits.append(tensor("else.two", np.array(2.0, np.float32)))
                body_nodes.append(node("Mul", ["x", "else.two"], ["else.x2"]))
                src_x = "else.x2"
            body_nodes += [node("Gemm", [src_x, wn, bn], [f"{branch}.fc_out"], name=f"{branch}.fc", transB=1),
                           node("Relu", [f"{branch}.fc_out"], [f"{branch}.out"])]
            bodies[branch] = helper.make_graph(body_nodes, f"{branch}_body", [],
                                               [vinfo(f"{branch}.out", F, [1, 8])], body_inits)
        inits = [tensor("head.weight", uniform(123, (4, 8))), tensor("head.bias", uniform(124, (4,), 0.1))]
        nodes = [node("If", ["flag"], ["h"], name="branch_if", then_branch=bodies["then"],
                      else_branch=bodies["else"]),
                 node("Gemm", ["h", "head.weight", "head.bias"], ["y"], name="head", transB=1)]
        g = helper.make_graph(nodes, name[:-5], [vinfo("x", F, [1, 8]), vinfo("flag", TensorProto.BOOL, [])],
                              [vinfo("y", F, [1, 4])], inits)
        save_helper(g, name, 14)
        kind = "Constant nodes" if as_const else "initializers"
        model_info(name, src, 14, f"If on a bool input whose then and else bodies each hold their own "
                   f"byte-identical copy of a Gemm weight and bias as {kind} (then.fc.*, else.fc.*), both "
                   "followed by Relu; head Gemm after the If")
        for branch in ("then", "else"):
            gp = f"main/branch_if.{branch}_branch"
            expect(name, f"{branch}.fc.weight", "Gemm -> Relu in the body: He, fan_in 8", graph=gp, role="weight",
                   activation="relu", scheme="he", fan_in=8, fan_out=8, action="reinitialized")
            expect(name, f"{branch}.fc.bias", "Gemm bias -> 0", graph=gp, role="bias", scheme="constant",
                   value=0.0, action="reinitialized")
        same(name, "then.fc.weight", "else.fc.weight", "identical",
             "the two branches are one module exported twice: after a rewrite the copies must still be "
             "byte-identical, or the model computes different things depending on the flag")
        same(name, "then.fc.bias", "else.fc.bias", "identical", "as the weights")

    # --- 3. activation search -----------------------------------------------------------------
    name = "folded_bn_hardswish.onnx"
    inits = [tensor("conv.weight", uniform(131, (8, 3, 3, 3))),
             tensor("bn_folded.scale", rng(132).uniform(0.5, 1.5, (1, 8, 1, 1)).astype(np.float32)),
             tensor("bn_folded.shift", uniform(133, (1, 8, 1, 1), 0.1)),
             tensor("hs.three", np.array(3.0, np.float32)), tensor("hs.zero", np.array(0.0, np.float32)),
             tensor("hs.six", np.array(6.0, np.float32)),
             tensor("head.weight", uniform(134, (4, 8))), tensor("head.bias", uniform(135, (4,), 0.1))]
    nodes = [node("Conv", ["x", "conv.weight"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("Mul", ["c", "bn_folded.scale"], ["bn_mul"], name="bn_mul"),
             node("Add", ["bn_mul", "bn_folded.shift"], ["bn_out"], name="bn_add"),
             node("Add", ["bn_out", "hs.three"], ["hs_add"]),
             node("Clip", ["hs_add", "hs.zero", "hs.six"], ["hs_clip"]),
             node("Mul", ["bn_out", "hs_clip"], ["hs_mul"]), node("Div", ["hs_mul", "hs.six"], ["hs_out"]),
             node("GlobalAveragePool", ["hs_out"], ["gap"]), node("Flatten", ["gap"], ["flat"]),
             node("Gemm", ["flat", "head.weight", "head.bias"], ["y"], name="head", transB=1)]
    g = helper.make_graph(nodes, "folded_bn_hardswish", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("y", F, [1, 4])], inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "Paddle2ONNX/TF-converter style: Conv (no bias) -> Mul(bn_folded.scale "
               "[1,8,1,1]) -> Add(bn_folded.shift) (a BatchNorm folded into per-channel constants) -> "
               "decomposed HardSwish x * Clip(x + 3, 0, 6) / 6")
    expect(name, "conv.weight", "Conv -> folded BN (per-channel Mul + Add) -> x*Clip(x+3,0,6)/6: hardswish "
           "-> He (fan_in 27)", role="weight", activation="hardswish", scheme="he", fan_in=27, action="reinitialized")
    expect(name, "bn_folded.scale", "a folded BatchNorm scale (gamma/sqrt(var+eps)); a fresh BN folds to 1",
           role="norm_scale", scheme="constant", value=1.0, action="reinitialized")
    expect(name, "bn_folded.shift", "a folded BatchNorm shift (beta - mean*scale); a fresh BN folds to 0",
           role=["norm_bias", "bias"], scheme="constant", value=0.0, action="reinitialized")
    for c in ("hs.three", "hs.zero", "hs.six"):
        expect(name, c, "HardSwish constant", action="kept")

    name = "fp16_resize.onnx"
    F16 = TensorProto.FLOAT16
    inits = [tensor("conv.weight", uniform(141, (8, 3, 3, 3), dtype=np.float16)),
             tensor("conv.bias", uniform(142, (8,), 0.1, dtype=np.float16)),
             tensor("resize.scales", np.array([1, 1, 2, 2], np.float32))]
    nodes = [node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("Cast", ["c"], ["c32"], to=F), node("Resize", ["c32", "", "resize.scales"], ["r32"], mode="nearest"),
             node("Cast", ["r32"], ["r16"], to=F16), node("Sigmoid", ["r16"], ["y"])]
    g = helper.make_graph(nodes, "fp16_resize", [vinfo("x", F16, [1, 3, 8, 8])], [vinfo("y", F16, [1, 8, 16, 16])],
                          inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "float16 Conv -> Cast(float) -> Resize(x2, nearest) -> Cast(float16) -> Sigmoid")
    expect(name, "conv.weight", "float16 Conv -> Cast -> Resize -> Cast -> Sigmoid: sigmoid -> Xavier "
           "(fan_in 27, fan_out 72), written as float16", role="weight", activation="sigmoid", scheme="xavier",
           fan_in=27, fan_out=72, action="reinitialized")
    expect(name, "conv.weight", "under --preset jax a missed sigmoid shows: sigmoid -> glorot (xavier), linear "
           "-> lecun", args=["--preset", "jax"], activation="sigmoid", scheme="xavier", action="reinitialized")
    expect(name, "conv.bias", "float16 conv bias -> 0", role="bias", scheme="constant", value=0.0,
           action="reinitialized")

    name = "passthrough_ops.onnx"
    inits, nodes, outs = [], [], []
    branches = [("slice", "Slice", {}, 1), ("split", "Split", {"axis": 1}, 2), ("pad", "Pad", {}, 1),
                ("gather", "Gather", {"axis": 1}, 1), ("s2d", "SpaceToDepth", {"blocksize": 2}, 1),
                ("d2s", "DepthToSpace", {"blocksize": 2, "mode": "DCR"}, 1)]
    out_shapes = {"slice": [[1, 4, 8, 8]], "split": [[1, 4, 8, 8]] * 2, "pad": [[1, 8, 10, 10]],
                  "gather": [[1, 8, 8, 8]], "s2d": [[1, 32, 4, 4]], "d2s": [[1, 2, 16, 16]]}
    inits += [tensor("slice.starts", np.array([0], np.int64)), tensor("slice.ends", np.array([4], np.int64)),
              tensor("slice.axes", np.array([1], np.int64)), tensor("split.sizes", np.array([4, 4], np.int64)),
              tensor("pad.pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
              tensor("gather.indices", np.array([3, 2, 1, 0, 7, 6, 5, 4], np.int64))]
    extra = {"slice": ["slice.starts", "slice.ends", "slice.axes"], "split": ["split.sizes"], "pad": ["pad.pads"],
             "gather": ["gather.indices"], "s2d": [], "d2s": []}
    for i, (p, op, attrs, n_out) in enumerate(branches):
        inits.append(tensor(f"{p}.conv.weight", uniform(150 + i, (8, 4, 3, 3))))
        nodes.append(node("Conv", ["x", f"{p}.conv.weight"], [f"{p}.c"], name=f"{p}.conv", pads=[1, 1, 1, 1]))
        mids = [f"{p}.mid{k}" for k in range(n_out)]
        nodes.append(node(op, [f"{p}.c"] + extra[p], mids, name=f"{p}.{op}", **attrs))
        for k, mid in enumerate(mids):
            nodes.append(node("Relu", [mid], [f"{p}.y{k}"]))
            outs.append(vinfo(f"{p}.y{k}", F, out_shapes[p][k]))
    g = helper.make_graph(nodes, "passthrough_ops", [vinfo("x", F, [1, 4, 8, 8])], outs, inits)
    save_helper(g, name, 13)
    model_info(name, src, 13, "six Conv(4->8, 3x3) layers, each followed by one activation-preserving op and "
               "a Relu: Slice (channels 0:4), Split (2 outputs, both -> Relu), Pad (documented pass-through: "
               "control), Gather of channels (axis 1), SpaceToDepth, DepthToSpace")
    for p, op, _, _ in branches:
        expect(name, f"{p}.conv.weight", f"Conv -> {op} -> Relu: {op} moves or selects activations without "
               "changing their distribution, so relu -> He (fan_in 36)", role="weight", activation="relu",
               scheme="he", fan_in=36, action="reinitialized")

    name = "upsample_opset9.onnx"
    inits = [tensor("up.conv.weight", uniform(161, (8, 3, 3, 3))), tensor("up.conv.bias", uniform(162, (8,), 0.1)),
             tensor("up.scales", np.array([1, 1, 2, 2], np.float32))]
    nodes = [node("Conv", ["x", "up.conv.weight", "up.conv.bias"], ["c"], name="up.conv", pads=[1, 1, 1, 1]),
             node("Upsample", ["c", "up.scales"], ["u"], name="up.upsample", mode="nearest"),
             node("Relu", ["u"], ["y"])]
    g = helper.make_graph(nodes, "upsample_opset9", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("y", F, [1, 8, 16, 16])],
                          inits)
    save_helper(g, name, 9, ir_version=4)
    model_info(name, src, 9, "opset 9 (IR 4): Conv -> Upsample(x2, nearest) -> Relu")
    expect(name, "up.conv.weight", "Conv -> Upsample -> Relu: relu -> He (fan_in 27)", role="weight",
           activation="relu", scheme="he", fan_in=27, action="reinitialized")

    name = "convinteger_dequant.onnx"
    inits = [tensor("conv.weight_quantized", rng(171).integers(0, 256, (8, 3, 3, 3)).astype(np.uint8)),
             tensor("conv.weight_zero_point", np.array(128, np.uint8)),
             tensor("conv.weight_scale", np.array(0.004, np.float32)),
             tensor("conv.bias", uniform(172, (1, 8, 1, 1), 0.1))]
    nodes = [node("DynamicQuantizeLinear", ["x"], ["xq", "x_scale", "x_zero_point"]),
             node("ConvInteger", ["xq", "conv.weight_quantized", "x_zero_point", "conv.weight_zero_point"],
                  ["acc"], name="conv_quant", pads=[1, 1, 1, 1]),
             node("Cast", ["acc"], ["acc_f"], to=F),
             node("Mul", ["x_scale", "conv.weight_scale"], ["scale"]),
             node("Mul", ["acc_f", "scale"], ["deq"], name="conv_quant_scale"),
             node("Add", ["deq", "conv.bias"], ["biased"], name="conv_quant_bias"),
             node("Relu", ["biased"], ["y"])]
    g = helper.make_graph(nodes, "convinteger_dequant", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("y", F, [1, 8, 8, 8])],
                          inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "dynamic quantization (onnxruntime quantize_dynamic style): DynamicQuantizeLinear "
               "-> ConvInteger(uint8 weight, zero point 128) -> Cast(float) -> Mul(x_scale * weight_scale) -> "
               "Add(float conv.bias [1,8,1,1]) -> Relu")
    expect(name, "conv.weight_quantized", "quantized (uint8) weight: kept; its layer's activation is relu "
           "(through Cast -> Mul(scale) -> Add(bias))", role="weight", activation="relu", action="kept")
    expect(name, "conv.bias", "float bias of the quantized layer (the Add after the dequantizing Mul): it "
           "belongs to a layer whose weight is kept, so it is kept too (as QLinearConv's int32 bias is)",
           role="bias", action="kept")
    for c in ("conv.weight_zero_point", "conv.weight_scale"):
        expect(name, c, "quantization parameter", action="kept")

    name = "shape_consumer.onnx"
    inits = [tensor("conv.weight", uniform(181, (8, 3, 3, 3))), tensor("conv.bias", uniform(182, (8,), 0.1))]
    nodes = [node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("Relu", ["c"], ["r"]), node("Shape", ["c"], ["c_shape"]),
             node("Reshape", ["other", "c_shape"], ["other_r"]), node("Add", ["r", "other_r"], ["y"])]
    g = helper.make_graph(nodes, "shape_consumer", [vinfo("x", F, [1, 3, 8, 8]), vinfo("other", F, [1, 512])],
                          [vinfo("y", F, [1, 8, 8, 8])], inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "Conv output read by Relu and by Shape (whose result is the shape of a "
               "Reshape of another input, added after the Relu)")
    expect(name, "conv.weight", "Shape reads only the output's shape; the data goes to Relu: relu -> He",
           role="weight", activation="relu", scheme="he", fan_in=27, action="reinitialized")

    name = "clip_relu.onnx"
    inits = [tensor("a.conv.weight", uniform(191, (8, 3, 3, 3))), tensor("b.conv.weight", uniform(192, (8, 3, 3, 3))),
             tensor("a.min", np.array(0.0, np.float32)), tensor("b.min", np.array(1e-10, np.float32)),
             tensor("b.max", np.array(np.inf, np.float32))]
    nodes = [node("Conv", ["x", "a.conv.weight"], ["a.c"], name="a.conv", pads=[1, 1, 1, 1]),
             node("Clip", ["a.c", "a.min", ""], ["a.y"], name="a.clip"),
             node("Conv", ["x", "b.conv.weight"], ["b.c"], name="b.conv", pads=[1, 1, 1, 1]),
             node("Clip", ["b.c", "b.min", "b.max"], ["b.y"], name="b.clip")]
    g = helper.make_graph(nodes, "clip_relu", [vinfo("x", F, [1, 3, 8, 8])],
                          [vinfo("a.y", F, [1, 8, 8, 8]), vinfo("b.y", F, [1, 8, 8, 8])], inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "Clip(min 0, max omitted) and Clip(min 1e-10, max +inf) after two Convs: both ReLU")
    expect(name, "a.conv.weight", "Clip with min 0 and no max is ReLU (unbounded above): relu -> He",
           role="weight", activation="relu", scheme="he", action="reinitialized")
    expect(name, "b.conv.weight", "Clip with min 1e-10 and max +inf is ReLU up to 1e-10: relu -> He",
           role="weight", activation="relu", scheme="he", action="reinitialized")

    name = "quick_gelu.onnx"
    inits = [tensor("conv.weight", uniform(201, (8, 3, 3, 3))), tensor("conv.bias", uniform(202, (8,), 0.1)),
             tensor("qg.slope", np.array(1.702, np.float32))]
    nodes = [node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("Mul", ["c", "qg.slope"], ["c_scaled"]), node("Sigmoid", ["c_scaled"], ["gate"]),
             node("Mul", ["c", "gate"], ["y"])]
    g = helper.make_graph(nodes, "quick_gelu", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("y", F, [1, 8, 8, 8])], inits)
    save_helper(g, name, 14)
    model_info(name, src, 14, "Conv -> x * Sigmoid(1.702 * x) (QuickGELU, as CLIP exports it)")
    expect(name, "conv.weight", "x * Sigmoid(1.702 x) approximates GELU: ReLU family -> He; NOT a plain "
           "sigmoid (Xavier)", role="weight", activation=["gelu", "quick_gelu", "silu"], scheme="he",
           action="reinitialized")

    # --- 6. nothing to do: every weight quantized ---------------------------------------------
    name = "all_quantized.onnx"
    inits = [tensor("input_scale", np.array(0.02, np.float32)), tensor("input_zero_point", np.array(0, np.int8)),
             tensor("conv.weight_quantized", rng(211).integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)),
             tensor("conv.weight_scale", rng(212).uniform(0.002, 0.006, (8,)).astype(np.float32)),
             tensor("conv.weight_zero_point", np.zeros(8, np.int8)),
             tensor("conv.bias_quantized", rng(213).integers(-500, 500, (8,)).astype(np.int32)),
             tensor("conv.bias_scale", rng(214).uniform(4e-5, 1.2e-4, (8,)).astype(np.float32)),
             tensor("act_scale", np.array(0.05, np.float32)), tensor("act_zero_point", np.array(0, np.int8)),
             tensor("fc.weight_quantized", rng(215).integers(-127, 128, (4, 8)).astype(np.int8)),
             tensor("fc.weight_scale", np.array(0.01, np.float32)),
             tensor("fc.weight_zero_point", np.array(0, np.int8)),
             tensor("fc.bias_quantized", rng(216).integers(-500, 500, (4,)).astype(np.int32)),
             tensor("fc.bias_scale", np.array(5e-4, np.float32))]
    nodes = [node("QuantizeLinear", ["x", "input_scale", "input_zero_point"], ["xq"]),
             node("DequantizeLinear", ["xq", "input_scale", "input_zero_point"], ["xd"]),
             node("DequantizeLinear", ["conv.weight_quantized", "conv.weight_scale", "conv.weight_zero_point"],
                  ["conv.weight"], axis=0),
             node("DequantizeLinear", ["conv.bias_quantized", "conv.bias_scale"], ["conv.bias"], axis=0),
             node("Conv", ["xd", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("Relu", ["c"], ["r"]),
             node("QuantizeLinear", ["r", "act_scale", "act_zero_point"], ["rq"]),
             node("DequantizeLinear", ["rq", "act_scale", "act_zero_point"], ["rd"]),
             node("GlobalAveragePool", ["rd"], ["gap"]), node("Flatten", ["gap"], ["flat"]),
             node("DequantizeLinear", ["fc.weight_quantized", "fc.weight_scale", "fc.weight_zero_point"],
                  ["fc.weight"]),
             node("DequantizeLinear", ["fc.bias_quantized", "fc.bias_scale"], ["fc.bias"]),
             node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "all_quantized", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("y", F, [1, 4])], inits)
    save_helper(g, name, 13)
    model_info(name, src, 13, "QDQ model: Conv and Gemm weights int8 (per-channel / per-tensor), biases int32, "
               "all behind DequantizeLinear; no float parameter")
    run(name, "every layer weight is quantized (kept): nothing to re-initialize", "rewrite", 2,
        ["nothing to re-initialize"])
    for t in ("conv.weight_quantized", "fc.weight_quantized"):
        expect(name, t, "quantized weight: kept", role="weight", action="kept")
    for t in ("conv.bias_quantized", "fc.bias_quantized"):
        expect(name, t, "quantized (int32) bias: kept", action="kept")

    # --- 7. hostile inputs --------------------------------------------------------------------
    name = "cycle.onnx"
    inits = [tensor("cycle.weight", uniform(221, (3, 3, 3, 3)))]
    nodes = [node("Add", ["x", "r"], ["a"], name="cycle_add"),
             node("Conv", ["a", "cycle.weight"], ["c"], name="cycle_conv", pads=[1, 1, 1, 1]),
             node("Relu", ["c"], ["r"], name="cycle_relu")]
    g = helper.make_graph(nodes, "cycle", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("r", F, [1, 3, 8, 8])], inits)
    save_helper(g, name, 14, check=False)
    model_info(name, src + ", not checker-valid", 14, "a cycle: Add(x, r) -> Conv -> Relu -> r", ort=False)
    run(name, "a cyclic graph is not a valid ONNX graph (the checker and ONNX Runtime refuse it): the tool "
        "refuses it with exit 3, naming a node on the cycle, and never decides silently", "plan", 3, ["cycle"])

    name = "dangling_input.onnx"
    inits = [tensor("conv.weight", uniform(231, (8, 3, 3, 3)))]
    nodes = [node("Conv", ["x", "conv.weight"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("Add", ["c", "ghost"], ["a"], name="add_ghost"), node("Relu", ["a"], ["y"])]
    g = helper.make_graph(nodes, "dangling_input", [vinfo("x", F, [1, 3, 8, 8])], [vinfo("y", F, [1, 8, 8, 8])], inits)
    save_helper(g, name, 14, check=False)
    model_info(name, src + ", not checker-valid", 14, "Conv -> Add(c, \"ghost\") -> Relu where nothing "
               "(no node, input or initializer) produces \"ghost\"", ort=False)
    run(name, "a node input nothing produces (the checker and ONNX Runtime refuse it): exit 3 naming it",
        "plan", 3, ["ghost"])

    name = "external_fifo.onnx"
    fc_w = tensor("fc.weight", uniform(241, (8, 16)))
    fc_w.ClearField("raw_data")
    fc_w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "fc.weight.bin"), ("offset", "0"), ("length", str(8 * 16 * 4))):
        e = fc_w.external_data.add()
        e.key, e.value = k, v
    inits = [fc_w, tensor("fc.bias", uniform(242, (8,), 0.1))]
    nodes = [node("Gemm", ["x", "fc.weight", "fc.bias"], ["c"], name="fc", transB=1), node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "external_fifo", [vinfo("x", F, [1, 16])], [vinfo("y", F, [1, 8])], inits)
    save_helper(g, name, 14, check=False)
    model_info(name, src, 14, "fc.weight [8,16] float32 stored externally in \"fc.weight.bin\" (offset 0, "
               "length 512); the test makes that name a FIFO (not committed)", ort=False)
    for command in ("plan", "rewrite"):
        run(name, "the external-data location is a FIFO: refuse it as not a regular file (exit 3, naming "
            "fc.weight) without blocking in open() or read()", command, 3, ["fc.weight", "regular file"],
            setup="copy external_fifo.onnx to an empty temporary directory and run `mkfifo fc.weight.bin` "
            "there (never open the FIFO for writing)", fifo="fc.weight.bin", timeout_s=10)

    name = "string_weight.onnx"
    strings = np.array([[f"s{i}{j}".encode() for j in range(4)] for i in range(16)], dtype=object)
    inits = [tensor("fc.weight", uniform(251, (16, 8))), tensor("fc.bias", uniform(252, (16,), 0.1)),
             helper.make_tensor("string_weight", TensorProto.STRING, [16, 4], strings.flatten().tolist())]
    nodes = [node("Gemm", ["x", "fc.weight", "fc.bias"], ["c"], name="fc", transB=1), node("Relu", ["c"], ["h"]),
             node("MatMul", ["h", "string_weight"], ["y"], name="string_matmul")]
    g = helper.make_graph(nodes, "string_weight", [vinfo("x", F, [1, 8])], [vinfo("y", F, [1, 4])], inits)
    save_helper(g, name, 14, check=False)
    model_info(name, src + ", not runnable", 14, "a STRING tensor [16,4] as MatMul input 1 (a weight slot) "
               "after an ordinary Gemm -> Relu", ort=False)
    expect(name, "string_weight", "a string tensor is never a parameter: kept (bit for bit)", action="kept")
    run(name, "a string tensor in a weight slot is a broken model: the tool must warn, naming it", "plan", 0,
        ["string_weight"])
    expect(name, "fc.weight", "the ordinary layer before it: Gemm -> Relu -> He", role="weight",
           activation="relu", scheme="he", fan_in=8, action="reinitialized")


# ----------------------------------------------------------------------------------------------------
# --compare TOOL: run the tool and list the disagreements with expected.json

def all_tensors(model_proto):
    """{name: array} of every initializer and Constant value, in the main graph and every body."""
    found, graphs = {}, [model_proto.graph]
    while graphs:
        g = graphs.pop()
        for t in g.initializer:
            found[t.name] = nh.to_array(t)
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    graphs.append(a.g)
                elif n.op_type == "Constant" and a.name == "value":
                    found[n.output[0]] = nh.to_array(a.t)
    return found


def compare(tool):
    with open(os.path.join(OUT, "expected.json")) as f:
        spec = json.load(f)
    reports = {}

    def report(model, args):
        key = (model, tuple(args))
        if key not in reports:
            proc = subprocess.run([tool, "plan", os.path.join(OUT, model), "--format", "json", *args],
                                  capture_output=True, text=True, timeout=60)
            reports[key] = json.loads(proc.stdout) if proc.returncode == 0 else None
        return reports[key]

    bad = 0
    for e in spec["expectations"]:
        model, args = e["model"], e.get("args", [])
        tag = model + (" " + " ".join(args) if args else "")
        if "run" in e:
            r = e["run"]
            with tempfile.TemporaryDirectory() as d:
                shutil.copy(os.path.join(OUT, model), d)
                if "fifo" in r:
                    os.mkfifo(os.path.join(d, r["fifo"]))
                cmd = [tool, r["command"], os.path.join(d, model), *args]
                if r["command"] == "rewrite":
                    cmd += ["-o", os.path.join(d, "out.onnx")]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=r["timeout_s"])
                    code, err = proc.returncode, proc.stderr
                except subprocess.TimeoutExpired:
                    code, err = "timeout", ""
            codes = r["exit"] if isinstance(r["exit"], list) else [r["exit"]]
            missing = [s for s in r["stderr_contains"] if s.lower() not in err.lower()]
            if code not in codes or missing:
                bad += 1
                print(f"{tag}: {r['command']} exit {code} (want {r['exit']}), stderr {err.strip()[:200]!r}"
                      + (f" lacks {missing}" if missing else ""))
            continue
        rep = report(model, args)
        if rep is None:
            bad += 1
            print(f"{tag}: plan failed")
            continue
        if "same" in e:
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "out.onnx")
                proc = subprocess.run([tool, "rewrite", os.path.join(OUT, model), "-o", out, "-q", *args],
                                      capture_output=True, text=True, timeout=60)
                if proc.returncode != 0:
                    bad += 1
                    print(f"{tag}: rewrite exit {proc.returncode}: {proc.stderr.strip()[:200]}")
                    continue
                values = all_tensors(onnx.load(out))
            a, b = (values[n] for n in e["same"])
            ok = (a.tobytes() == b.tobytes() and a.shape == b.shape) if e["relation"] == "identical" \
                else np.array_equal(a.T, b)
            if not ok:
                bad += 1
                print(f"{tag}: after a rewrite {e['same'][1]} is no longer {e['relation']} to {e['same'][0]}")
            continue
        rows = [t for t in rep["tensors"] if t["name"] == e["tensor"] and t["graph"] == e.get("graph", t["graph"])]
        if not rows:
            bad += 1
            print(f"{tag}: {e['tensor']}: not in the report")
            continue
        row, wrong = rows[0], []
        for field, want in e["expect"].items():
            got = row.get(field)
            ok = got in want if isinstance(want, list) else (
                abs(got - want) < 1e-6 if isinstance(want, float) and isinstance(got, (int, float)) else got == want)
            if not ok:
                wrong.append(f"{field} {got!r} (want {want!r})")
        if wrong:
            bad += 1
            print(f"{tag}: {e['tensor']}: {', '.join(wrong)}  [{row['reason'][:90]}]")
    print(f"{bad} of {len(spec['expectations'])} expectations not met")
    return bad


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        sys.exit(1 if compare(sys.argv[2]) else 0)
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".onnx"):
            os.remove(os.path.join(OUT, f))
    torch_models()
    helper_models()
    order = {m["model"]: i for i, m in enumerate(MODELS)}
    MODELS.sort(key=lambda m: m["model"])
    EXPECTATIONS.sort(key=lambda e: e["model"])  # stable: keeps each model's order
    assert set(order) == {e["model"] for e in EXPECTATIONS}, "a model without expectations"
    with open(os.path.join(OUT, "expected.json"), "w") as f:  # one model / expectation per line
        line = lambda items: ",\n".join("  " + json.dumps(i) for i in items)
        f.write('{"format": "onnx-reinit graph expectations 1 (described in models/make_graphs.py)",\n'
                f' "models": [\n{line(MODELS)}\n ],\n "expectations": [\n{line(EXPECTATIONS)}\n ]\n}}\n')
    total = sum(os.path.getsize(os.path.join(OUT, m["model"])) for m in MODELS)
    print(f"{len(MODELS)} models, {total} bytes, {len(EXPECTATIONS)} expectations")


if __name__ == "__main__":
    main()
