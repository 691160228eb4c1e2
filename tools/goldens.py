#!/usr/bin/env python3
"""Make the PyTorch goldens the Go tests compare against.

    python3 tools/goldens.py            # writes testdata/golden/*.safetensors

Needs Debian's python3-torch and python3-torchvision (apt-get install
python3-torch python3-torchvision); run it with /usr/bin/python3.

Weights are not stored for the big networks: both sides make them with the
same seeded generator (splitmix64 over the FNV-1a hash of the tensor's
torchvision name; weights/testgen.go is the Go side), so the goldens stay
small. ResNet-20's whole state dict is stored too, written by torch, to test
the importer on a real torch-made file. BatchNorm statistics are random and
far from the identity, so a wrong epsilon, axis or folding shows.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "golden")
M = (1 << 64) - 1


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & M
    return h


def uniform(name, n):
    """n floats in [-1, 1) from splitmix64 seeded by the name; exact in float32."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = np.uint64(fnv1a(name)) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return np.float32(2) * u - np.float32(1)


def generated(name, shape):
    """The value of a torchvision state-dict entry (see weights/testgen.go)."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "weight" and len(shape) >= 2:  # conv or linear: He-uniform
        fan_in = int(np.prod(shape[1:]))
        v = u * np.float32(np.sqrt(6.0 / fan_in))
    elif leaf == "weight":  # BatchNorm gamma
        v = np.float32(1) + np.float32(0.25) * u
    elif leaf == "running_var":
        v = np.float32(1) + np.float32(0.5) * u
    else:  # biases, beta, running_mean
        v = np.float32(0.1) * u
    return torch.from_numpy(v.reshape(shape).copy())


def fill(model):
    sd = model.state_dict()
    for k, t in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = generated(k, list(t.shape))
    model.load_state_dict(sd)
    return model


class CifarBlock(nn.Module):
    """The paper's CIFAR basic block with an option-A shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2
        self.stride = stride

    def forward(self, x):
        s = x
        if self.stride != 1 or self.pad:
            s = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad, self.pad))
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + s)


class CifarResNet(nn.Module):
    def __init__(self, n, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, cout in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(CifarBlock(cin, cout, 2 if (b == 0 and i > 0) else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k].detach().numpy().astype("<f4"))
        b = a.tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def nhwc(t):
    return t.permute(0, 2, 3, 1) if t.dim() == 4 else t


def golden(name, model, size, batch, taps, stem_taps=()):
    """Run model on a generated batch and save input, logits and taps."""
    model.eval()
    x = generated("input", [batch, 3, size, size]).float() * 2
    outs = {}
    hooks = [m.register_forward_hook(lambda _m, _i, o, k=k: outs.__setitem__(k, o.detach()))
             for k, m in list(taps.items())]
    with torch.no_grad():
        logits = model(x)
    for h in hooks:
        h.remove()
    tensors = {"input": nhwc(x), "logits": logits}
    for k, v in outs.items():
        tensors[k] = nhwc(v)
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "model": name,
            "generator": "splitmix64(fnv1a(torch key)); see tools/goldens.py"}
    write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors, meta)
    scale = logits.abs().max().item()
    print(f"{name}: logits {tuple(logits.shape)}, max |logit| {scale:.4g}, taps {sorted(outs)}")


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)

    r18 = fill(torchvision.models.resnet18(weights=None))
    golden("resnet18", r18, 64, 2, {"pool1_pool": r18.maxpool, "conv3_block2_out": r18.layer2[1],
                                     "conv5_block2_out": r18.layer4[1], "avg_pool": r18.avgpool})

    r50 = fill(torchvision.models.resnet50(weights=None))
    golden("resnet50", r50, 64, 2, {"pool1_pool": r50.maxpool, "conv3_block4_out": r50.layer2[3],
                                     "conv5_block3_out": r50.layer4[2]})

    rx = fill(torchvision.models.resnext50_32x4d(weights=None))
    golden("resnext50_32x4d", rx, 64, 2, {"pool1_pool": rx.maxpool, "conv3_block4_out": rx.layer2[3],
                                           "conv5_block3_out": rx.layer4[2]})

    torch.manual_seed(0)
    r20 = fill(CifarResNet(3))
    golden("resnet20", r20, 32, 4, {"conv2_block3_out": r20.layer1[2], "conv4_block3_out": r20.layer3[2]})
    sd = {k: v for k, v in r20.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(os.path.join(OUT, "resnet20_state_dict.safetensors"), sd, {"torch": torch.__version__})
    print("resnet20_state_dict: %d tensors" % len(sd))


if __name__ == "__main__":
    sys.exit(main())
