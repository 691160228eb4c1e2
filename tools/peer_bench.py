#!/usr/bin/env python3
"""Benchmark resnet-go against ONNX Runtime 1.30 (npm onnxruntime-node) and
PyTorch 1.13 (Debian python3-torch) on this machine, interleaved, and print
the ratios as a Markdown table for the README.

    apt-get install python3-torch python3-torchvision nodejs npm
    /usr/bin/python3 tools/peer_bench.py [--rounds 3] [--seconds 8] [--only 'training|batch 1$'] [--avx2]
        [--models resnext50_32x4d,wide_resnet50_2]

The table (medians over the rounds) goes to stdout; each round's figures,
and each round's ratio with their median, to stderr. Odd rounds run the
peers before ours.

All three run the same network: torchvision's ResNet-50 (our torch
flavour) at 224x224, with 2 threads. ONNX Runtime runs the model exported
from PyTorch. Training compares a full SGD step. --models adds inference
at batch 1 and 16 and training at batch 16 for other torchvision
architectures, by their names.

--avx2 runs as on a CPU without AVX-512: ours with GODEBUG=cpu.avx512f=off,
PyTorch with oneDNN and ATen held to AVX2 (ONEDNN_MAX_CPU_ISA,
ATEN_CPU_CAPABILITY, set before torch loads). ONNX Runtime has no such
switch (its MLAS picks kernels from CPUID), so it is left out then.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

AVX2 = "--avx2" in sys.argv[1:]
if AVX2:
    os.environ.update(ONEDNN_MAX_CPU_ISA="AVX2", DNNL_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")

import torch  # noqa: E402
import torchvision  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
CACHE = os.path.join(ROOT, ".cache", "peers")
sys.path.insert(0, HERE)
from goldens import CifarResNet  # noqa: E402


def setup_ort(model="resnet50"):
    """Installs ONNX Runtime once and returns the path of torchvision's
    model (by name) exported to ONNX, exporting it the first time."""
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.isdir(os.path.join(CACHE, "node_modules", "onnxruntime-node")):
        env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip")
        subprocess.run(["npm", "install", "--silent", "--no-save", "--prefix", CACHE, "onnxruntime-node@1.30.0"],
                       check=True, env=env)
    onnx = os.path.join(CACHE, model + ".onnx")
    if not os.path.exists(onnx):
        m = getattr(torchvision.models, model)(weights=None).eval()
        torch.onnx.export(m, torch.randn(1, 3, 224, 224), onnx, opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return onnx


def ort_ips(onnx, batch, threads, seconds):
    env = dict(os.environ, NODE_PATH=os.path.join(CACHE, "node_modules"))
    out = subprocess.run(["node", os.path.join(HERE, "ort_bench.js"), onnx, str(batch), str(threads), str(seconds)],
                         check=True, capture_output=True, text=True, env=env).stdout
    return batch / (json.loads(out)["median_ms"] / 1000)


def median_time(fn, seconds, min_runs=5):
    fn()
    times, start = [], time.time()
    while len(times) < min_runs or time.time() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_infer_ips(batch, seconds, model="resnet50"):
    m = getattr(torchvision.models, model)(weights=None).eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        return batch / median_time(lambda: m(x), seconds)


def torch_train_ips(model, batch, size, channels, classes, seconds):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, channels, size, size)
    y = torch.randint(0, classes, (batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return batch / median_time(step, seconds)


def ours(args, seconds):
    env = dict(os.environ, GODEBUG="cpu.avx512f=off") if AVX2 else None
    out = subprocess.run([os.path.join(CACHE, "resnet"), "bench", "--json", "--seconds", str(seconds), *args],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)["images_per_sec"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="run only the cases whose name this regular expression "
                    "matches somewhere (e.g. training, or 'batch 1$' for batch 1 alone)")
    ap.add_argument("--avx2", action="store_true", help="as without AVX-512: ours and PyTorch held to AVX2, no ONNX Runtime")
    ap.add_argument("--models", default="", help="comma-separated torchvision architectures (resnext50_32x4d, "
                    "wide_resnet50_2, ...) to time too: inference at batch 1 and 16 against both peers, "
                    "training at batch 16 against PyTorch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    onnx = setup_ort()
    subprocess.run(["go", "build", "-o", os.path.join(CACHE, "resnet"), "./cmd/resnet"], check=True, cwd=ROOT)
    t = str(a.threads)
    cases = [
        ("ResNet-50 inference, batch 1",
         lambda: ours(["--model", "resnet50", "--batch", "1", "--threads", t], a.seconds),
         {"ONNX Runtime": lambda: ort_ips(onnx, 1, a.threads, a.seconds), "PyTorch": lambda: torch_infer_ips(1, a.seconds)}),
        ("ResNet-50 inference, batch 16",
         lambda: ours(["--model", "resnet50", "--batch", "16", "--threads", t], a.seconds),
         {"ONNX Runtime": lambda: ort_ips(onnx, 16, a.threads, a.seconds), "PyTorch": lambda: torch_infer_ips(16, a.seconds)}),
        ("ResNet-50 training, batch 16",
         lambda: ours(["--model", "resnet50", "--batch", "16", "--train", "--threads", t, "--runs", "3"], a.seconds),
         {"PyTorch": lambda: torch_train_ips(torchvision.models.resnet50(weights=None), 16, 224, 3, 1000, a.seconds)}),
        ("CIFAR ResNet-20 training, batch 128",
         lambda: ours(["--model", "resnet20", "--batch", "128", "--train", "--threads", t], a.seconds),
         {"PyTorch": lambda: torch_train_ips(CifarResNet(3), 128, 32, 3, 10, a.seconds)}),
    ]
    for model in filter(None, a.models.split(",")):
        for batch in (1, 16):
            cases.append((f"{model} inference, batch {batch}",
                          lambda m=model, b=batch: ours(["--model", m, "--batch", str(b), "--threads", t], a.seconds),
                          {"ONNX Runtime": lambda m=model, b=batch: ort_ips(setup_ort(m), b, a.threads, a.seconds),
                           "PyTorch": lambda m=model, b=batch: torch_infer_ips(b, a.seconds, m)}))
        cases.append((f"{model} training, batch 16",
                      lambda m=model: ours(["--model", m, "--batch", "16", "--train", "--threads", t, "--runs", "3"], a.seconds),
                      {"PyTorch": lambda m=model: torch_train_ips(getattr(torchvision.models, m)(weights=None), 16, 224, 3,
                                                                  1000, a.seconds)}))
    print(f"| case | resnet-go img/s | peer | peer img/s | ratio |\n|---|---|---|---|---|")
    for name, mine, peers in cases:
        if not re.search(a.only, name):
            continue
        if AVX2:
            peers = {p: fn for p, fn in peers.items() if p != "ONNX Runtime"}
        res = {"resnet-go": []}
        for r in range(a.rounds):  # interleaved, so that drift hits everyone
            # Odd rounds run the peers first: no one always follows the same run.
            order = [("resnet-go", mine)] + list(peers.items())
            for who, fn in (order if r % 2 == 0 else order[1:] + order[:1]):
                res.setdefault(who, []).append(fn())
        us = statistics.median(res["resnet-go"])
        for p in peers:
            them = statistics.median(res[p])
            print(f"| {name} | {us:.2f} | {p} | {them:.2f} | {us / them:.2f}x |", flush=True)
        # Each round's figures, on stderr: the peers' can move by 2x between
        # runs here. A round's own ratio (ours against the peer's run next to
        # it) drifts less than either figure; their median goes beside the
        # table's ratio of medians.
        rounds = "; ".join(f"{who} " + " ".join(f"{v:.2f}" for v in vals) for who, vals in res.items())
        print(f"{name}: {rounds}", file=sys.stderr, flush=True)
        for p in peers:
            ratios = [u / t for u, t in zip(res["resnet-go"], res[p])]
            print(f"{name}, against {p}: round ratios " + " ".join(f"{x:.2f}" for x in ratios) +
                  f", median {statistics.median(ratios):.2f}x", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
