#!/usr/bin/python3
"""Exports the bundled test models with Debian's python3-torch (random weights, nothing downloaded).

Run from the repository root:  /usr/bin/python3 models/make_models.py
Needs python3-torch and python3-onnx (scripts/bootstrap.sh --models installs them). The .onnx files
are committed, so building and testing never needs torch; re-run this only to change the models.
"""
import os

import torch
import torch.nn as nn

OPSET = 14
HERE = os.path.dirname(os.path.abspath(__file__))


def export(model, example, name, **kwargs):
    model.eval()
    path = os.path.join(HERE, name + ".onnx")
    torch.onnx.export(model, example, path, opset_version=OPSET, input_names=["input"],
                      output_names=["output"], **kwargs)
    print("wrote", os.path.relpath(path))


def mlp(activation):
    # 100 -> 50 is the note's worked example: Xavier bound 0.2, He bound 0.245.
    return nn.Sequential(nn.Linear(100, 50), activation, nn.Linear(50, 10))


class CnnBn(nn.Module):
    """Conv-BN-ReLU twice (the second grouped), pooling, and a linear head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, groups=2), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.features(x))


class Recurrent(nn.Module):
    def __init__(self, cell, bidirectional):
        super().__init__()
        self.rnn = cell(input_size=10, hidden_size=20, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(20 * (2 if bidirectional else 1), 5)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def main():
    torch.manual_seed(0)
    x = torch.randn(1, 100)
    for name, act in [("relu", nn.ReLU()), ("leaky_relu", nn.LeakyReLU(0.2)), ("tanh", nn.Tanh()),
                      ("sigmoid", nn.Sigmoid()), ("selu", nn.SELU()), ("elu", nn.ELU()),
                      ("prelu", nn.PReLU()), ("relu6", nn.ReLU6())]:
        export(mlp(act), x, "mlp_" + name)
    # BatchNorm is kept as its own node (no folding into the Conv) so the model has BN parameters.
    # Trained-looking BN statistics: fresh ones (scale 1 = var 1, bias 0 = mean 0) would be merged
    # into shared initializers by the exporter's deduplication.
    cnn = CnnBn()
    for m in cnn.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    export(cnn, torch.randn(1, 3, 16, 16), "cnn_bn", do_constant_folding=False,
           training=torch.onnx.TrainingMode.PRESERVE)
    # Constant folding bakes torch's gate reordering into plain LSTM/GRU initializers.
    export(Recurrent(nn.LSTM, False), torch.randn(1, 7, 10), "lstm", do_constant_folding=True)
    export(Recurrent(nn.GRU, True), torch.randn(1, 7, 10), "gru_bidirectional", do_constant_folding=True)
    deep_tanh()
    bert_tiny()


class BertLayer(nn.Module):
    """A BERT encoder layer: self-attention of q, k, v Linears, output Linear + residual + LayerNorm, GELU
    MLP + residual + LayerNorm (the module names of transformers' BertLayer, flattened)."""

    def __init__(self, d):
        super().__init__()
        self.query, self.key, self.value, self.attention_output = (nn.Linear(d, d) for _ in range(4))
        self.attention_norm, self.output_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.intermediate, self.output = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        a = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1) @ v
        x = self.attention_norm(x + self.attention_output(a))
        return self.output_norm(x + self.output(nn.functional.gelu(self.intermediate(x))))


class BertTiny(nn.Module):
    """Word and position embeddings + LayerNorm, 4 encoder layers, and BERT's pooler (Linear + Tanh on the
    first token): what `--preset bert --reinit-blocks N --only name=pooler.*` is shown on."""

    def __init__(self, d=16, layers=4, vocab=200, positions=16):
        super().__init__()
        self.word_embeddings, self.position_embeddings = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.embeddings_norm = nn.LayerNorm(d)
        self.layer = nn.ModuleList(BertLayer(d) for _ in range(layers))
        self.pooler = nn.Sequential()
        self.pooler.dense = nn.Linear(d, d)

    def forward(self, ids):
        x = self.word_embeddings(ids) + self.position_embeddings(torch.arange(ids.shape[1]))
        x = self.embeddings_norm(x)
        for block in self.layer:
            x = block(x)
        return torch.tanh(self.pooler.dense(x[:, 0]))


def pretrained_looking_bert_tiny():
    """BertTiny with pretrained-looking LayerNorms (the model is shown being fine-tuned): fresh ones (1 and
    0) would be merged into shared initializers by the exporter's deduplication."""
    torch.manual_seed(2)
    model = BertTiny()
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.1)
    return model


def bert_tiny():
    export(pretrained_looking_bert_tiny(), torch.randint(0, 200, (1, 8)), "bert_tiny")


def deep_tanh():
    """30 tanh layers of width 64 and a head: deep enough for the audit to show Xavier's decay."""
    torch.manual_seed(1)
    layers = []
    for _ in range(30):
        layers += [nn.Linear(64, 64), nn.Tanh()]
    export(nn.Sequential(*layers, nn.Linear(64, 10)), torch.randn(1, 64), "mlp_tanh_deep",
           dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


if __name__ == "__main__":
    main()
