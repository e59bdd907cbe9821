#!/usr/bin/env python3
"""rewrite --export-weights and export-weights, end to end with PyTorch.

Builds PyTorch models (an MLP, a CNN with BatchNorm and a grouped conv, stacked bidirectional LSTM +
GRU, a small transformer with a tied embedding), exports each to ONNX right after construction,
rewrites it with --export-weights, and checks that
  - the safetensors file is well formed (header length, JSON header, 8-aligned data, contiguous offsets,
    each tensor aligned to its element width, __metadata__ carrying the seed);
  - every re-initialized tensor is exported or reported, and for these models all are named;
  - torch's load_state_dict(strict=True) takes the exported tensors under their names and shapes;
  - torch's forward with them equals ONNX Runtime's forward of the rewritten model;
  - export-weights --all covers every entry of the state dict but num_batches_tracked.
Then the refusals: a BatchNorm folded into a Conv is reported, not guessed; --name-map names it; a
name map naming no tensor, and --export-weights with -o -, are usage errors (exit 2).

usage: export_weights.py TOOL WORK_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

TOOL, WORK = sys.argv[1], sys.argv[2]
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime", "run_model.js")
os.makedirs(WORK, exist_ok=True)
SEED = 5
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def tool(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True)


# ---- models ---------------------------------------------------------------------------------------

class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = torch.nn.Linear(20, 32), torch.nn.Linear(32, 32), torch.nn.Linear(32, 10)

    def forward(self, x):  # x: [batch, tokens, 20], so torch.onnx writes MatMul with transposed weights
        return self.out(torch.tanh(self.fc2(torch.relu(self.fc1(x)))))


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=2), torch.nn.ReLU()))
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class Rnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(5, 7, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = torch.nn.GRU(14, 6, batch_first=True)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, _ = self.gru(y)
        return self.fc(y)


class TinyTransformer(torch.nn.Module):
    def __init__(self, vocab=50, dim=16, layers=2):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.layers = torch.nn.ModuleList(
            [torch.nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True) for _ in range(layers)])
        self.norm = torch.nn.LayerNorm(dim)
        self.head = torch.nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied

    def forward(self, x):
        h = self.embed(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h))


PRESERVE = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
torch.manual_seed(0)
CASES = [
    ("mlp", Mlp(), torch.randn(4, 3, 20), {}),
    ("cnn_bn", Cnn(), torch.randn(2, 3, 8, 8), PRESERVE),
    ("lstm_gru", Rnn(), torch.randn(2, 4, 5), {}),
    ("transformer_tied", TinyTransformer(), torch.randint(0, 50, (2, 5)), {}),
]


# ---- safetensors, read with json + numpy ------------------------------------------------------------

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    start = 8 + n
    check(start % 8 == 0, f"{path}: tensor bytes start at {start}, not a multiple of 8")
    tensors, end = {}, 0
    spans = sorted((v["data_offsets"], k) for k, v in header.items() if k != "__metadata__")
    for (begin, stop), key in spans:
        entry = header[key]
        dtype = np.dtype(DTYPES[entry["dtype"]])
        check(begin == end, f"{path}: '{key}' starts at {begin}, the previous tensor ended at {end}")
        check(begin % dtype.itemsize == 0, f"{path}: '{key}' is not aligned to its element width")
        count = int(np.prod(entry["shape"])) if entry["shape"] else 1
        check(stop - begin == count * dtype.itemsize, f"{path}: '{key}' has {stop - begin} bytes for {count} values")
        tensors[key] = np.frombuffer(data[start + begin:start + stop], dtype=dtype).reshape(entry["shape"])
        end = stop
    check(start + end == len(data), f"{path}: {len(data) - start - end} bytes after the last tensor")
    return tensors, header.get("__metadata__", {})


# ---- ONNX Runtime ---------------------------------------------------------------------------------

def ort_inputs(x):
    kind = "int64" if x.dtype == torch.int64 else "float32"
    return {"dims": list(x.shape), "type": kind, "data": x.flatten().tolist()}


def run_ort(jobs):
    """jobs: [(model_path, input_name, tensor)] -> [first output as numpy]"""
    args, outs = [], []
    for i, (model, name, x) in enumerate(jobs):
        ins, out = os.path.join(WORK, f"in{i}.json"), os.path.join(WORK, f"out{i}.json")
        json.dump({name: ort_inputs(x)}, open(ins, "w"))
        args += [model, ins, out]
        outs.append(out)
    subprocess.run(["node", RUNNER, *args], check=True)
    results = []
    for out in outs:
        first = next(iter(json.load(open(out)).values()))
        results.append(np.array(first["data"], dtype=np.float32).reshape(first["dims"]))
    return results


def load(model, weights, keep_missing):
    """The model with `weights` loaded strictly (entries not exported taken from its own state dict)."""
    state = model.state_dict()
    for key, value in weights.items():
        check(key in state, f"exported '{key}' is no state-dict entry")
        if key in state:
            check(tuple(state[key].shape) == value.shape, f"'{key}': exported {value.shape}, torch {tuple(state[key].shape)}")
            state[key] = torch.from_numpy(value.copy())
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if not keep_missing:
        check(not missing, f"not exported by --all: {missing}")
    model.load_state_dict(state, strict=True)
    return model


# ---- the cases ------------------------------------------------------------------------------------

jobs, torch_outputs = [], []
for name, model, x, export_args in CASES:
    model.eval()
    src = os.path.join(WORK, name + ".onnx")
    torch.onnx.export(model, (x,), src, opset_version=14, input_names=["x"], **export_args)
    out, st, report = (os.path.join(WORK, name + s) for s in (".rewritten.onnx", ".safetensors", ".json"))
    r = tool("rewrite", src, "-o", out, "--seed", str(SEED), "--export-weights", st, "--report", report, "-q")
    check(r.returncode == 0, f"{name}: rewrite --export-weights exit {r.returncode}: {r.stderr}")
    if r.returncode != 0:
        continue
    rep = json.load(open(report))
    weights, meta = read_safetensors(st)
    check(meta.get("seed") == str(SEED), f"{name}: __metadata__ seed {meta.get('seed')!r}")
    check(json.loads(meta.get("onnx_reinit", "{}")).get("seed") == SEED, f"{name}: __metadata__ lacks the run")
    exported = {t["tensor"] for t in rep["export"]["tensors"]}
    check(not rep["export"]["unnamed"], f"{name}: unnamed {rep['export']['unnamed']}")
    reinitialized = {t["name"] for t in rep["tensors"] if t["action"] == "reinitialized"}
    check(reinitialized == exported, f"{name}: re-initialized {sorted(reinitialized - exported)} not exported, "
                                     f"{sorted(exported - reinitialized)} exported but kept")
    check(set(weights) == {t["name"] for t in rep["export"]["tensors"]}, f"{name}: report and file disagree")
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    changed = [k for k, v in weights.items() if v.std() > 0 and not np.array_equal(v, before[k])]
    check(changed, f"{name}: no exported tensor differs from the original")
    load(model, weights, keep_missing=True)
    if name == "transformer_tied":
        check(np.array_equal(weights["head.weight"], weights["embed.weight"]), "the tied head differs from the embedding")
    with torch.no_grad():
        torch_outputs.append((name, model(x).numpy()))
    jobs.append((out, "x", x))
    # export-weights --all, from the rewritten model: the whole state dict.
    st_all = os.path.join(WORK, name + ".all.safetensors")
    r = tool("export-weights", out, st_all, "--all", "-q")
    check(r.returncode == 0, f"{name}: export-weights --all exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        all_weights, _ = read_safetensors(st_all)
        for key in weights:
            check(np.array_equal(all_weights[key], weights[key]), f"{name}: '{key}' differs between the two exports")
        load(model, all_weights, keep_missing=False)

for (name, expected), got in zip(torch_outputs, run_ort(jobs)):
    err = float(np.max(np.abs(expected - got)))
    scale = float(np.max(np.abs(expected)))
    check(got.shape == expected.shape and err <= 1e-4 * max(1.0, scale),
          f"{name}: torch and ONNX Runtime differ by {err} (scale {scale})")
    print(f"{name}: torch == ONNX Runtime within {err:.2e}")

# ---- refusals -------------------------------------------------------------------------------------

folded = os.path.join(WORK, "cnn_folded.onnx")
torch.onnx.export(Cnn().eval(), (torch.randn(2, 3, 8, 8),), folded, opset_version=14)  # BatchNorm folded
st, report = os.path.join(WORK, "folded.safetensors"), os.path.join(WORK, "folded.json")
r = tool("rewrite", folded, "-o", os.path.join(WORK, "folded.onnx"), "--export-weights", st, "--report", report)
check(r.returncode == 0, f"folded: exit {r.returncode}")
rep = json.load(open(report))
unnamed = {u["tensor"] for u in rep["export"]["unnamed"]}
check(len(unnamed) == 2 and all(u.startswith("onnx::Conv") for u in unnamed), f"folded: unnamed {unnamed}")
check("not exported" in r.stderr and "folded" in r.stderr, "folded: no warning on stderr")
weights, _ = read_safetensors(st)
check(not any(k.startswith("features.0") for k in weights), f"folded: guessed {sorted(weights)}")
conv_weight = sorted(unnamed)[0]
name_map = os.path.join(WORK, "names.yaml")
open(name_map, "w").write(f'"{conv_weight}": features.0.weight\n')
r = tool("export-weights", os.path.join(WORK, "folded.onnx"), st, "--all", "--name-map", name_map, "-q")
check(r.returncode == 0 and "features.0.weight" in read_safetensors(st)[0], f"name map not used: {r.stderr}")
open(name_map, "w").write("no_such_tensor: x.weight\n")
r = tool("export-weights", folded, st, "--name-map", name_map)
check(r.returncode == 2 and "no_such_tensor" in r.stderr and name_map in r.stderr, f"bad name map: {r.returncode} {r.stderr}")
r = tool("rewrite", folded, "-o", "-", "--export-weights", st)
check(r.returncode == 2 and "--export-weights" in r.stderr, f"-o - with --export-weights: {r.returncode} {r.stderr}")
r = tool("export-weights", folded, folded)
check(r.returncode == 2 and open(folded, "rb").read(4) != b"\0\0\0\0", f"the input as the weights file: {r.returncode}")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
