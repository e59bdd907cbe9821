#!/usr/bin/python3
"""The pytorch and hf presets against what the frameworks do, on models exported by torch.onnx.

Usage: torch_presets.py ONNX_REINIT OUT_DIR

pytorch: each model is exported right after torch.nn constructed it, so its tensors are what each module's
reset_parameters drew. `check --preset pytorch` must pass them all (exit 0: the issue's MLP was reported
off at 0.41 of the target), and `rewrite --preset pytorch` must draw every tensor from the distribution torch
would: the target comes from the module (torch.nn.init._calculate_fan_in_and_fan_out of the module's own
weight), never from the tool. Each ONNX initializer is traced to the torch parameter it was exported from
by its values (a subset of the parameter's values: transposed, sliced and gate-reordered copies included);
float initializers traced to no parameter are torch's constants (biases 0, norms 1 and 0) and must be
rewritten to exactly what torch exported.

hf: a BERT-like encoder (models/make_models.py's BertTiny) and a GPT-2-like decoder built with torch;
every rewritten tensor against the formula of
transformers' _init_weights (weights and embeddings N(0, R^2), biases 0, LayerNorm 1 and 0, GPT-2's
c_proj N(0, R^2 / (2 n_layer))), and the fine-tuning command of the README (the pooler and the top blocks
re-initialized, everything else bit for bit).

Tolerances: a sample std over n values from a distribution of kurtosis k has standard error
std * sqrt((k - 1) / (4 n)) (k = 1.8 uniform, 3 normal); a std is accepted within 4 of those.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import onnx
import onnx.numpy_helper as nh
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from make_models import pretrained_looking_bert_tiny  # noqa: E402  the README's fine-tuning model

TOOL, OUT = sys.argv[1], sys.argv[2]
os.makedirs(OUT, exist_ok=True)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(*args, expect=0):
    p = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if p.returncode != expect:
        fail(f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n{p.stdout}{p.stderr}")
    return p


def export(model, inputs, name, fold=True):
    path = os.path.join(OUT, name + ".onnx")
    model.eval()
    torch.onnx.export(model, inputs, path, opset_version=14, do_constant_folding=fold,
                      training=torch.onnx.TrainingMode.PRESERVE)
    return path


def float_initializers(path):
    return {t.name: nh.to_array(t).astype(np.float64) for t in onnx.load(path).graph.initializer
            if t.data_type == onnx.TensorProto.FLOAT and t.name}


def std_ok(values, target, kurtosis):
    n = values.size
    se = target * math.sqrt((kurtosis - 1) / (4 * n))
    return abs(values.std() - target) <= 4 * se, se


# ---- pytorch: what reset_parameters draws ---------------------------------------------------------------

def torch_expected(model):
    """{parameter name: (kind, value)}: ("uniform", bound) or ("normal", std), from torch's own modules."""
    fan_in = lambda w: nn.init._calculate_fan_in_and_fan_out(w)[0]
    spec, constants = {}, []
    for mname, m in model.named_modules():
        prefix = mname + "." if mname else ""
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            bound = 1 / math.sqrt(fan_in(m.weight))  # kaiming_uniform_(a=sqrt(5)), and the bias's bound
            spec[prefix + "weight"] = ("uniform", bound)
            if m.bias is not None:
                spec[prefix + "bias"] = ("uniform", bound)
        elif isinstance(m, nn.RNNBase):
            for pname, _ in m.named_parameters():
                spec[prefix + pname] = ("uniform", 1 / math.sqrt(m.hidden_size))
        elif isinstance(m, nn.Embedding):
            spec[prefix + "weight"] = ("normal", 1.0)
        elif isinstance(m, nn.MultiheadAttention):
            fi, fo = nn.init._calculate_fan_in_and_fan_out(m.in_proj_weight)
            spec[prefix + "in_proj_weight"] = ("uniform", math.sqrt(6 / (fi + fo)))  # xavier_uniform_
            constants.append(prefix + "out_proj.bias")  # constant_(0.): a constant, like the norms
    for name in constants:
        spec.pop(name, None)
    # A module's parameters together (an LSTM's B is bias_ih and bias_hh concatenated), when they share
    # one distribution.
    for mname, m in model.named_modules():
        kinds = {spec.get(mname + "." + p) for p, _ in m.named_parameters(recurse=False)}
        if len(kinds) == 1 and None not in kinds:
            spec[mname + ".*"] = kinds.pop()
    return spec


class Mlp(nn.Module):  # the model
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.relu(self.fc1(x)))))


class Cnn(nn.Module):  # groups, BatchNorm after a Linear (a Conv's would be folded into it), PReLU
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, groups=4, padding=1)
        self.act = nn.PReLU()
        self.fc = nn.Linear(64, 32)
        self.bn = nn.BatchNorm1d(32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.act(self.conv2(torch.relu(self.conv1(x))))
        return self.head(torch.relu(self.bn(self.fc(x.mean(dim=(2, 3))))))


class Conv3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 16, (3, 3, 3))
        self.norm = nn.GroupNorm(4, 16)

    def forward(self, x):
        return self.norm(self.conv(x))


class ConvTranspose(nn.Module):  # torch's fan_in of a ConvTranspose weight [in, out/g, k, k]: out/g * k*k
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(16, 24, 3, stride=2, groups=2)

    def forward(self, x):
        return torch.relu(self.up(x))


class Recurrent(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(12, 32, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(500, 32)
        self.norm = nn.LayerNorm(32)
        self.fc = nn.Linear(32, 8)

    def forward(self, ids):
        return self.fc(self.norm(self.emb(ids)))


class Mha(nn.Module):  # self-attention (one packed projection) or cross-attention (q; k, v or q; kv)
    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.attn = nn.MultiheadAttention(64, 4, batch_first=True)

    def forward(self, x, y):
        if self.mode == "self":
            return self.attn(x, x, x, need_weights=False)[0]
        if self.mode == "kv":
            return self.attn(x, y, y, need_weights=False)[0]
        return self.attn(x, y, y + 1, need_weights=False)[0]


class LinearAttention(nn.Module):  # attention built of nn.Linear layers: each stays Linear
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(64, 64) for _ in range(4))

    def forward(self, x):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        return self.out_proj(torch.softmax(q @ k.transpose(1, 2) / 8, dim=-1) @ v)


def pytorch_models():
    x4, seq = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 12)
    a, b = torch.randn(2, 5, 64), torch.randn(2, 7, 64)
    return [
        ("mlp", Mlp(), (torch.randn(3, 64),), True),
        ("cnn_groups_bn_prelu", Cnn(), (x4,), True),
        ("conv3d_groupnorm", Conv3d(), (torch.randn(1, 3, 6, 6, 6),), True),
        ("conv_transpose", ConvTranspose(), (torch.randn(1, 16, 5, 5),), True),
        ("lstm", Recurrent(nn.LSTM), (seq,), True),
        ("gru", Recurrent(nn.GRU), (seq,), True),
        ("embedding_layernorm", Embed(), (torch.randint(0, 500, (2, 6)),), True),
        ("mha_self", Mha("self"), (a, b), True),
        ("mha_kv_folded", Mha("kv"), (a, b), True),
        ("mha_qkv_folded", Mha("qkv"), (a, b), True),
        ("linear_attention", LinearAttention(), (a,), True),
    ]


def parameters(model):
    """{name: values} of every parameter, and of each module's parameters together ("<module>.*")."""
    params = {n: p.detach().numpy().ravel() for n, p in model.named_parameters()}
    for mname, m in model.named_modules():
        own = [p.detach().numpy().ravel() for _, p in m.named_parameters(recurse=False)]
        if len(own) > 1:
            params[mname + ".*"] = np.concatenate(own)
    return params


def trace_to_parameters(path, params):
    """{initializer name: torch parameter name} by values: each initializer's values are a subset of
    exactly one parameter's (several parameters of one module for an LSTM's B: the first that holds them all
    is enough, since they share their distribution)."""
    owner = {}
    for name, values in float_initializers(path).items():
        if values.size < 2 or np.all(values == values.flat[0]):
            continue
        for pname, p in params.items():
            if np.isin(values.astype(np.float32), p).all():
                owner[name] = pname
                break
        else:
            owner[name] = None
    return owner


def check_pytorch():
    torch.manual_seed(0)
    for name, model, inputs, fold in pytorch_models():
        path = export(model, inputs, name, fold)
        spec = torch_expected(model)
        params = parameters(model)
        # The formula against torch itself: what it drew fits the distribution the test expects.
        for pname, (kind, value) in spec.items():
            if pname.endswith("*"):
                continue
            v = params[pname].astype(np.float64)
            target = value / math.sqrt(3) if kind == "uniform" else value
            ok, _ = std_ok(v, target, 1.8 if kind == "uniform" else 3)
            if not ok or (kind == "uniform" and np.abs(v).max() > value):
                fail(f"{name}: torch's own {pname} does not fit {kind} {value} (std {v.std():.4g})")
        report = os.path.join(OUT, name + ".check.json")
        run("check", path, "--preset", "pytorch", "-q", "--report", report)
        out = os.path.join(OUT, name + ".pytorch.onnx")
        run("rewrite", path, "-o", out, "--preset", "pytorch", "--seed", "11", "-q")
        run("check", out, "--preset", "pytorch", "-q")
        owner = trace_to_parameters(path, params)
        before, after = float_initializers(path), float_initializers(out)
        checked = 0
        for iname, values in before.items():
            pname = owner.get(iname)
            new = after[iname]
            if pname is None and iname not in owner:  # a constant of torch (or of the graph): as exported
                if not np.array_equal(new, values):
                    fail(f"{name}: {iname} should stay torch's constant {values.ravel()[:3]}, got {new.ravel()[:3]}")
                continue
            if pname is None or pname not in spec:
                fail(f"{name}: initializer {iname} traced to {pname}, which has no expected distribution")
                continue
            kind, value = spec[pname]
            target = value / math.sqrt(3) if kind == "uniform" else value
            if np.array_equal(new, values):
                fail(f"{name}: {iname} ({pname}) was not drawn again")
            ok, se = std_ok(new, target, 1.8 if kind == "uniform" else 3)
            if not ok:
                fail(f"{name}: {iname} ({pname}) std {new.std():.5g}, torch's {target:.5g} +- 4*{se:.2g}")
            if kind == "uniform" and np.abs(new).max() > value * (1 + 1e-6):
                fail(f"{name}: {iname} ({pname}) exceeds torch's bound {value:.5g}: {np.abs(new).max():.5g}")
            checked += 1
        traced = {owner[i] for i in owner if owner[i]}
        untraced = [p for p in spec if not p.endswith("*") and p not in traced
                    and not any(t.endswith("*") and p.startswith(t[:-1]) for t in traced)]
        if untraced:
            fail(f"{name}: torch parameters with no initializer drawn from them: {untraced}")
        print(f"{name}: {checked} random tensors within 4 standard errors of torch's std")

    # The issue: the MLP as torch built it was reported off at std 0.41x target by the preset that
    # applied calculate_gain (kept as torch-gain): He's sqrt(2/fan_in) against torch's 1/sqrt(3 fan_in).
    report = os.path.join(OUT, "mlp.torch-gain.json")
    run("check", os.path.join(OUT, "mlp.onnx"), "--preset", "torch-gain", "-q", "--report", report, expect=6)
    fc1 = next(l for l in json.load(open(report))["layers"] if l["name"] == "fc1.weight")
    if abs(fc1["ratio"] - 1 / math.sqrt(6)) > 0.05:
        fail(f"torch-gain on the torch-built MLP: fc1 ratio {fc1['ratio']}, expected 1/sqrt(6)")
    ok = json.load(open(os.path.join(OUT, "mlp.check.json")))
    if ok["summary"]["off"] != 0 or ok["summary"]["checked"] != 6:
        fail(f"check --preset pytorch on the MLP: {ok['summary']} (expected 6 checked: 3 weights, 3 biases)")


# ---- hf: transformers' _init_weights --------------------------------------------------------------------

class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D, GPT-2's linear layer: weight [in, out], y = addmm(bias, x, weight)
    (exported as a Gemm with the bias as C)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.randn(nf) * 0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)


class Gpt2Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.attn_c_proj = Conv1D(3 * d, d), Conv1D(d, d)
        self.c_fc, self.mlp_c_proj = Conv1D(4 * d, d), Conv1D(d, 4 * d)

    def forward(self, x):
        q, k, v = self.c_attn(self.ln_1(x)).split(x.shape[-1], dim=2)
        x = x + self.attn_c_proj(torch.softmax(q @ k.transpose(1, 2) / 4, dim=-1) @ v)
        return x + self.mlp_c_proj(nn.functional.gelu(self.c_fc(self.ln_2(x))))


class TinyGpt2(nn.Module):
    def __init__(self, d=32, n_layer=3):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(200, d), nn.Embedding(16, d)
        self.h = nn.ModuleList(Gpt2Block(d) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


def hf_expected(model, r, n_layer=None):
    """{parameter name: ("normal", std) or ("constant", value)}: _init_weights, and GPT-2's c_proj."""
    spec = {}
    for mname, m in model.named_modules():
        prefix = mname + "." if mname else ""
        if isinstance(m, (nn.Linear, Conv1D)):
            std = r / math.sqrt(2 * n_layer) if n_layer and mname.endswith("c_proj") else r
            spec[prefix + "weight"] = ("normal", std)
            spec[prefix + "bias"] = ("constant", 0.0)
        elif isinstance(m, nn.Embedding):
            spec[prefix + "weight"] = ("normal", r)
        elif isinstance(m, nn.LayerNorm):
            spec[prefix + "weight"], spec[prefix + "bias"] = ("constant", 1.0), ("constant", 0.0)
    return spec


def kind_of(spec, pname):
    return spec[pname][0]


def check_hf_tensors(label, path, out, spec, params, only=None):
    """Every initializer of `out` against `spec`, traced through `path` (the export); with `only`, the
    parameters outside it must be bit for bit what was exported."""
    owner = trace_to_parameters(path, params)
    before, after = float_initializers(path), float_initializers(out)
    seen = set()
    for iname, values in before.items():
        new = after[iname]
        pname = owner.get(iname)
        if pname is None:  # all-equal values: LayerNorm 1/0 from torch, or zero biases; by name
            pname = iname if iname in spec else None
        if pname is None:
            if not np.array_equal(new, values):
                fail(f"{label}: {iname}, no parameter, changed")
            continue
        seen.add(pname)
        if kind_of(spec, pname) != "constant" and np.array_equal(new, values) and (only is None or only(pname)):
            fail(f"{label}: {iname} ({pname}) was not drawn again")
        if only is not None and not only(pname):
            if not np.array_equal(new, values):
                fail(f"{label}: {iname} ({pname}) is outside the selection but changed")
            continue
        kind, value = spec[pname]
        if kind == "constant":
            if not np.all(new == value):
                fail(f"{label}: {iname} ({pname}) should be exactly {value}, got {new.ravel()[:4]}")
        else:
            ok, se = std_ok(new, value, 3)
            if not ok or abs(new.mean()) > 4 * value / math.sqrt(new.size):
                fail(f"{label}: {iname} ({pname}) std {new.std():.5g} mean {new.mean():.3g}, expected N(0, {value:.5g}^2) +- 4*{se:.2g}")
    # Parameters that start equal (LayerNorm's ones and zeros) may be merged into one initializer by the
    # exporter: only the random ones must each be found.
    missing = [p for p in spec if p not in seen and spec[p][0] != "constant"]
    if missing:
        fail(f"{label}: parameters not found in the export: {missing}")
    return len(seen)


def check_hf():
    torch.manual_seed(1)
    ids = torch.randint(0, 200, (2, 8))
    bert = pretrained_looking_bert_tiny()
    torch.manual_seed(1)
    gpt2 = TinyGpt2()
    bert_path, gpt2_path = export(bert, (ids,), "tiny_bert"), export(gpt2, (ids,), "tiny_gpt2")
    bert_params = {n: p.detach().numpy().ravel() for n, p in bert.named_parameters()}
    gpt2_params = {n: p.detach().numpy().ravel() for n, p in gpt2.named_parameters()}
    for preset, r in (("hf", 0.02), ("bert", 0.05)):
        out = os.path.join(OUT, f"tiny_bert.{preset}.onnx")
        run("rewrite", bert_path, "-o", out, "--preset", preset, "--init-range", str(r), "--seed", "5", "-q")
        n = check_hf_tensors(f"bert {preset} R={r}", bert_path, out, hf_expected(bert, r), bert_params)
        print(f"tiny_bert --preset {preset} --init-range {r}: {n} parameters match _init_weights")
    # gpt2: the residual projections (2 per block) at R/sqrt(2 n_layer); hf alone leaves them at R.
    out = os.path.join(OUT, "tiny_gpt2.gpt2.onnx")
    report = os.path.join(OUT, "tiny_gpt2.gpt2.json")
    run("rewrite", gpt2_path, "-o", out, "--preset", "gpt2", "--seed", "5", "-q", "--report", report)
    n = check_hf_tensors("gpt2", gpt2_path, out, hf_expected(gpt2, 0.02, n_layer=3), gpt2_params)
    scaled = [t["name"] for t in json.load(open(report))["tensors"] if "residual branch" in t.get("reason", "")]
    if len(scaled) != 6:
        fail(f"gpt2: {len(scaled)} tensors scaled as residual projections, expected 2 * n_layer = 6: {scaled}")
    print(f"tiny_gpt2 --preset gpt2: {n} parameters match, {len(scaled)} residual projections scaled")
    out = os.path.join(OUT, "tiny_gpt2.hf.onnx")
    run("rewrite", gpt2_path, "-o", out, "--preset", "hf", "--seed", "5", "-q")
    check_hf_tensors("gpt2 with hf", gpt2_path, out, hf_expected(gpt2, 0.02), gpt2_params)
    # The README's fine-tuning idiom: the pooler and the top 2 layers, nothing else.
    out = os.path.join(OUT, "tiny_bert.top2.onnx")
    run("rewrite", bert_path, "-o", out, "--preset", "bert", "--reinit-blocks", "2", "--only", "name=pooler.*",
        "--seed", "5", "-q")
    top = lambda p: p.startswith(("layer.2.", "layer.3.", "pooler."))
    n = check_hf_tensors("bert top 2 + pooler", bert_path, out, hf_expected(bert, 0.02), bert_params, only=top)
    print(f"tiny_bert --reinit-blocks 2 --only name=pooler.*: {n} parameters checked")


check_pytorch()
check_hf()
if failures:
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all presets match their frameworks")
