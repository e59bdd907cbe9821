#!/usr/bin/python3
"""Exports the test zoo: small variants of the torchvision architectures and other layer families,
with Debian's python3-torch / python3-torchvision (random weights, nothing downloaded).

Run from the repository root:  /usr/bin/python3 models/make_zoo.py [--full]
Writes models/zoo/<name>.onnx and models/zoo/manifest.json, which lists for every model the names of
the initializers that are PyTorch parameters or BatchNorm running statistics: the tensors a rewrite
must change. The small variants keep each architecture's op patterns (residual adds, depthwise and
grouped convs, squeeze-excitation, hardswish, SiLU, GELU, layer scale, attention, class token, ...)
at a few hundred kB each and are committed. --full also exports the standard-size models (tens to
hundreds of MB, not committed) into models/zoo-full/.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models.convnext import CNBlockConfig
from torchvision.models.efficientnet import _efficientnet_conf
from torchvision.models.mobilenetv3 import _mobilenet_v3_conf
from torchvision.models.regnet import BlockParams
from torchvision.models.resnet import BasicBlock, Bottleneck

OPSET = 14
HERE = os.path.dirname(os.path.abspath(__file__))


class TinyResNet(nn.Module):
    """torchvision's BasicBlock and Bottleneck at narrow widths: residual Add before ReLU, downsample."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.layer1 = BasicBlock(8, 8)
        self.layer2 = BasicBlock(8, 16, stride=2, downsample=down)
        self.layer3 = Bottleneck(16, 4)  # 4 * expansion 4 = 16 channels out
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class TinyVgg(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = tvm.vgg.make_layers([8, "M", 16, "M"], batch_norm=True)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(64, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TiedTransformer(nn.Module):
    """Token embedding, 2 encoder layers, and an LM head that shares the embedding matrix."""

    def __init__(self, vocab=50, d=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, 8, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, nhead=2, dim_feedforward=64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.embed.weight
        # TransformerEncoder deep-copies one layer: without this, the exporter would merge the identical
        # copies into one set of shared initializers.
        with torch.no_grad():
            for p in self.encoder.parameters():
                p.add_(torch.randn_like(p) * 0.01)

    def forward(self, ids):
        return self.head(self.norm(self.encoder(self.embed(ids) + self.pos)))


class DcganGenerator(nn.Module):
    def __init__(self, nz=8, ngf=8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(4, 8, 5), nn.BatchNorm1d(8), nn.ELU(), nn.Conv1d(8, 8, 3, groups=4),
                                 nn.LeakyReLU(0.1), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)


class Conv3dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv3d(2, 4, 3), nn.BatchNorm3d(4), nn.ReLU(), nn.Conv3d(4, 4, 3),
                                 nn.SELU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)


class Recurrent(nn.Module):
    def __init__(self, cell, **kwargs):
        super().__init__()
        self.rnn = cell(input_size=6, hidden_size=12, num_layers=2, bidirectional=True, batch_first=True, **kwargs)
        self.head = nn.Linear(24, 4)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def tiny_models():
    """name -> (model, example input, export options)."""
    img = torch.randn(1, 3, 32, 32)
    mnv3_setting, mnv3_last = _mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    eff_setting, eff_last = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    plain = {"do_constant_folding": False, "training": torch.onnx.TrainingMode.PRESERVE}
    return {
        "resnet_tiny": (TinyResNet(), img, plain),
        # The same network as exporters usually ship it: BatchNorm folded into the convolutions.
        "resnet_tiny_bn_folded": (TinyResNet(), img, {"do_constant_folding": True}),
        "mobilenet_v2_tiny": (tvm.MobileNetV2(num_classes=10, width_mult=0.25,
                                              inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]),
                              img, plain),
        "mobilenet_v3_tiny": (tvm.MobileNetV3(mnv3_setting[:4], 64, num_classes=10), img, plain),
        "efficientnet_tiny": (tvm.EfficientNet(eff_setting[:4], 0.2, num_classes=10, last_channel=64), img, plain),
        "densenet_tiny": (tvm.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2,
                                       num_classes=10), img, plain),
        "squeezenet_tiny": (tvm.SqueezeNet("1_1", num_classes=10), torch.randn(1, 3, 64, 64), plain),
        "shufflenet_tiny": (tvm.ShuffleNetV2([1, 1, 1], [8, 16, 32, 64, 64], num_classes=10), img, plain),
        "vgg_bn_tiny": (TinyVgg(), img, plain),
        "convnext_tiny": (tvm.ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10),
                          img, plain),
        "regnet_tiny": (tvm.RegNet(BlockParams.from_init_params(depth=2, w_0=8, w_a=8.0, w_m=2.0, group_width=8),
                                   num_classes=10), img, plain),
        "vit_tiny": (tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                           mlp_dim=64, num_classes=10), img, plain),
        "transformer_tied": (TiedTransformer(), torch.randint(0, 50, (1, 8)), plain),
        "dcgan_generator": (DcganGenerator(), torch.randn(1, 8, 1, 1), plain),
        "conv1d_net": (Conv1dNet(), torch.randn(1, 4, 20), plain),
        "conv3d_net": (Conv3dNet(), torch.randn(1, 2, 8, 8, 8), plain),
        # Constant folding bakes torch's gate reordering into plain LSTM/GRU/RNN initializers.
        "lstm_2layer_bidirectional": (Recurrent(nn.LSTM), torch.randn(1, 5, 6), {"do_constant_folding": True}),
        "gru_2layer_bidirectional": (Recurrent(nn.GRU), torch.randn(1, 5, 6), {"do_constant_folding": True}),
        "rnn_2layer_bidirectional": (Recurrent(nn.RNN, nonlinearity="relu"), torch.randn(1, 5, 6),
                                     {"do_constant_folding": True}),
    }


def full_models():
    img = torch.randn(1, 3, 224, 224)
    return {name: (getattr(tvm, name)(weights=None), img, {"do_constant_folding": False,
                                                          "training": torch.onnx.TrainingMode.PRESERVE})
            for name in ["resnet18", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "densenet121",
                         "squeezenet1_0", "shufflenet_v2_x1_0", "vgg11_bn", "convnext_tiny", "regnet_y_400mf",
                         "vit_b_16"]}


def randomize_batchnorm(model):
    # Fresh statistics (scale 1 = var 1, bias 0 = mean 0) would be merged by the exporter's deduplication.
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 2.0)


def export(name, model, example, options, out_dir):
    import onnx  # only to list the initializers for the manifest
    randomize_batchnorm(model)
    model.eval()
    path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(model, example, path, opset_version=OPSET, input_names=["input"], output_names=["output"],
                      **options)
    graph = onnx.load(path).graph
    initializers = {t.name for t in graph.initializer}
    if options.get("do_constant_folding", True):
        # Folding renames what it computes (BN folded into conv, reordered gates): after it, every float
        # initializer of these models is a parameter.
        expected = [t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT and t.dims]
    else:
        expected = [n for n, _ in model.named_parameters()]
        expected += [n for n, _ in model.named_buffers() if n.endswith(("running_mean", "running_var"))]
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")
    return sorted(set(expected) & initializers)


def main():
    torch.manual_seed(0)
    full = "--full" in sys.argv
    models = full_models() if full else tiny_models()
    out_dir = os.path.join(HERE, "zoo-full" if full else "zoo")
    os.makedirs(out_dir, exist_ok=True)
    manifest = {}
    for name, (model, example, options) in models.items():
        manifest[name] = {"parameters": export(name, model, example, options, out_dir)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
