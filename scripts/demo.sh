#!/usr/bin/env bash
# make demo: installs what is missing (Debian), builds, makes blurred examples from real
# photos (scripts/get-photos.sh + sung synth), deblurs them and writes comparison pictures
# into build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

need=(build-essential pkg-config libpng-dev libjpeg62-turbo-dev)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
make -j"$(nproc)"

[ -d data/photos ] && [ -n "$(ls -A data/photos 2>/dev/null)" ] || scripts/get-photos.sh
mkdir -p build/demo
rm -rf build/demo/pairs
first=$(ls data/photos | head -n 2)
mkdir -p build/demo/photos
for f in $first; do cp "data/photos/$f" build/demo/photos/; done
build/sung synth --photos build/demo/photos --out build/demo/pairs --count 2 --size 512x384 --seed 1

model_args=()
if [ -z "${SUNG_MODEL:-}" ] && [ ! -f weights/sung.safetensors ]; then
  echo
  echo "demo: no trained weights are shipped yet (weights/sung.safetensors) and SUNG_MODEL is not set."
  echo "demo: running a randomly initialised width-8 model instead, to show the pipeline:"
  echo "demo: its output is NOT deblurred. Train one with 'sung train' (README) and set SUNG_MODEL."
  build/sung init --variant sung --width 8 --seed 0 -o build/demo/random.safetensors
  model_args=(--model build/demo/random.safetensors)
fi
for seq in build/demo/pairs/*/; do
  name=$(basename "$seq")
  build/sung deblur "${model_args[@]}" "$seq/blur/000000.png" -o "build/demo/$name-deblurred.png" \
    --compare "build/demo/$name-compare.png"
done
echo
echo "demo: wrote build/demo/*-compare.png (blurred | deblurred over their edge maps)"
