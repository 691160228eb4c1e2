#!/usr/bin/env python3
"""The PyTorch side of the Fashion-MNIST convergence comparison: the same
recipe `resnet train` runs (CIFAR ResNet-20 with option-A shortcuts, SGD
momentum 0.9, weight decay 5e-4, batch 128, cosine learning rate from 0.1
with half an epoch of warm-up, pad-2 random crops and flips, inputs x/255),
on Debian's python3-torch with 2 threads.

    /usr/bin/python3 tools/train_fashion_torch.py [--epochs 15]

Prints the test accuracy and wall time per epoch; compare with
    resnet train --fashion-mnist /usr/share/datasets/fashion-mnist --epochs 15 --batch 128 --augment cifar
"""
import argparse
import gzip
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goldens import CifarResNet  # noqa: E402

SRC = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(os.path.join(SRC, name)) as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = CifarResNet(3)
    model.conv1 = torch.nn.Conv2d(1, 16, 3, 1, 1, bias=False)  # grey input
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(xtr) / a.batch)
    total, warm = a.epochs * steps_per_epoch, steps_per_epoch // 2
    step = 0
    for epoch in range(a.epochs):
        model.train()
        began = time.time()
        perm = torch.randperm(len(xtr))
        for b in range(steps_per_epoch):
            i = perm[b * a.batch:(b + 1) * a.batch]
            xp = F.pad(xtr[i], (2, 2, 2, 2))
            off = np.random.randint(0, 5, (len(i), 2))
            x = torch.stack([xp[k, :, dy:dy + 28, dx:dx + 28] for k, (dy, dx) in enumerate(off)])
            flip = torch.rand(len(i)) < 0.5
            x[flip] = x[flip].flip(3)
            lr = 0.1 * (step + 1) / warm if step < warm else 0.05 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(model(x), ytr[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        secs = time.time() - began
        model.eval()
        with torch.no_grad():
            correct = sum((model(xte[j:j + 1000]).argmax(1) == yte[j:j + 1000]).sum().item() for j in range(0, len(xte), 1000))
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {100 * correct / len(xte):.2f}%, "
              f"{secs:.0f}s ({len(xtr) / secs:.0f} img/s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
