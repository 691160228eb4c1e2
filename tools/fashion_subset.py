#!/usr/bin/env python3
"""Cut the Fashion-MNIST subset that `resnet train` embeds (MIT, Zalando
Research) from Debian's dataset-fashion-mnist package:

    apt-get install dataset-fashion-mnist
    python3 tools/fashion_subset.py          # cmd/resnet/fashion/*.gz

The first 4000 training and 1000 test images, in the original IDX format.
"""
import gzip
import os
import struct

SRC = "/usr/share/datasets/fashion-mnist"
DST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cmd", "resnet", "fashion")


def cut(name, count):
    with gzip.open(os.path.join(SRC, name)) as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    per = 1
    for d in dims[1:]:
        per *= d
    head = struct.pack(">I", magic) + struct.pack(">" + "I" * rank, count, *dims[1:])
    body = raw[4 + 4 * rank: 4 + 4 * rank + count * per]
    with gzip.GzipFile(os.path.join(DST, name), "wb", mtime=0) as f:
        f.write(head + body)


os.makedirs(DST, exist_ok=True)
for name, count in [("train-images-idx3-ubyte.gz", 4000), ("train-labels-idx1-ubyte.gz", 4000),
                    ("t10k-images-idx3-ubyte.gz", 1000), ("t10k-labels-idx1-ubyte.gz", 1000)]:
    cut(name, count)
print("wrote", DST)
