#!/usr/bin/env python3
"""Copy the test photos from Debian's python3-skimage (CC0) into testdata/
and make the small WebP fixture (Go's standard library has no WebP encoder).

    /usr/bin/python3 tools/testimages.py
"""
import os
import shutil

import skimage
from PIL import Image

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata")
src = os.path.join(os.path.dirname(skimage.__file__), "data")
for name in ("chelsea.png", "coffee.png"):
    shutil.copy(os.path.join(src, name), os.path.join(here, name))
im = Image.open(os.path.join(here, "chelsea.png")).convert("RGB").resize((64, 42))
im.save(os.path.join(here, "chelsea_small.webp"), "WEBP", quality=90)
print("testdata: chelsea.png, coffee.png, chelsea_small.webp")
