#!/usr/bin/env python3
"""Write a torchvision ResNet state dict as safetensors for weights.LoadTorchvision.

    /usr/bin/python3 tools/torch_to_safetensors.py resnet50.pth resnet50.safetensors
    /usr/bin/python3 tools/torch_to_safetensors.py --arch resnet18 --random r18.safetensors

The input is a file torch.save wrote (a state dict, or a whole model);
num_batches_tracked buffers are left out. Needs Debian's python3-torch (and
python3-torchvision for --arch).
"""
import argparse
import json
import os
import struct
import sys

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", nargs="?", help="state dict or model saved by torch.save")
    ap.add_argument("dst", help="safetensors file to write")
    ap.add_argument("--arch", help="torchvision architecture to build instead of reading src")
    ap.add_argument("--random", action="store_true", help="with --arch: keep torchvision's random init")
    a = ap.parse_args()
    if a.arch:
        import torchvision
        sd = getattr(torchvision.models, a.arch)(weights=None).state_dict()
    elif a.src:
        obj = torch.load(a.src, map_location="cpu")
        sd = obj.state_dict() if hasattr(obj, "state_dict") else obj
    else:
        ap.error("give a source file or --arch")
    header, blobs, off = {"__metadata__": {"source": "torchvision", "torch": torch.__version__}}, [], 0
    for k in sorted(sd):
        if k.endswith("num_batches_tracked"):
            continue
        b = sd[k].detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(sd[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = a.dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, a.dst)
    print(f"{a.dst}: {len(blobs)} tensors")


if __name__ == "__main__":
    sys.exit(main())
