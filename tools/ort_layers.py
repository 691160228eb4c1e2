#!/usr/bin/env python3
"""Time ONNX Runtime's ResNet-50 (or another torchvision architecture)
node by node, to set beside `resnet bench --layers N` (same network, torch
flavour, same batch).

    /usr/bin/python3 tools/ort_layers.py [--batch 16] [--runs 12] [--top 60] [--model resnext50_32x4d]

ONNX Runtime's profiler writes a trace of every node of every run; this
prints each node's median over the runs after the first two (warm-up),
slowest first, with its share and its operator. Node names are
torchvision's: layerS.B is our convS+1_blockB+1; relu is the first 1x1
(with its ReLU), relu_1 the 3x3, conv3 the last 1x1 (with the residual Add
and ReLU fused in), downsample the projection.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peer_bench import CACHE, setup_ort  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--top", type=int, default=60)
    ap.add_argument("--model", default="resnet50", help="torchvision architecture (exported to ONNX by name)")
    a = ap.parse_args()
    onnx = setup_ort(a.model)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NODE_PATH=os.path.join(CACHE, "node_modules"))
        subprocess.run(["node", os.path.join(HERE, "ort_profile.js"), onnx, str(a.batch), str(a.threads),
                        str(a.runs), os.path.join(tmp, "ort")], check=True, env=env)
        trace = json.load(open(glob.glob(os.path.join(tmp, "ort*.json"))[0]))
    runs = [e["dur"] / 1e3 for e in trace if e.get("cat") == "Session" and e["name"] == "model_run"]
    times, ops = {}, {}
    for e in trace:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times.setdefault(e["name"], []).append(e["dur"] / 1e3)
            ops[e["name"]] = e["args"].get("op_name", "")
    rows = sorted(((statistics.median(t[2:] or t), n) for n, t in times.items()), reverse=True)
    total = sum(t for t, _ in rows)
    print(f"ONNX Runtime, {a.model}, batch {a.batch}, {a.threads} threads: median run {statistics.median(runs[2:] or runs):.1f} ms "
          f"({len(runs)} runs); all {len(rows)} nodes {total:.1f} ms")
    for t, n in rows[:a.top]:
        name = n.removesuffix("_kernel_time").removesuffix("_output_0_nchwc").removesuffix("_output_0")
        print(f"  {t:7.2f} ms {100 * t / total:5.1f}%  {ops[n]:<18} {name}")


if __name__ == "__main__":
    sys.exit(main())
