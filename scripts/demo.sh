#!/usr/bin/env bash
# make demo: installs what is missing (Debian), builds, makes blurred examples from real
# photos of the test split (scripts/get-photos.sh + sung synth), deblurs them and the really
# blurred photos of data/photos/real-blur/ (no sharp original: before/after only), and writes
# comparison pictures into build/demo/.
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

scripts/get-photos.sh # quick when data/photos already has everything
mkdir -p build/demo
rm -rf build/demo/pairs build/demo/photos
test_photos=(data/photos/test/*)
mkdir -p build/demo/photos
cp "${test_photos[@]:0:2}" build/demo/photos/
build/sung synth --photos build/demo/photos --out build/demo/pairs --count 2 --size 512x384 --frame 1280x720 --max-side 1920 --seed 1

model_args=()
snapshot=models/snapshots/sung-w32.safetensors
if [ -z "${SUNG_MODEL:-}" ] && [ ! -f models/sung.safetensors ]; then
  echo
  echo "demo: no trained default weights are shipped yet (models/sung.safetensors) and SUNG_MODEL is not set."
  if [ -f "$snapshot" ]; then
    echo "demo: using the partly trained snapshot $snapshot instead: it sharpens mild blur"
    echo "demo: (about +1.3 dB on held-out photos) and leaves strong blur mostly as it is (docs/RESULTS.md)."
    model_args=(--model "$snapshot")
  else
    echo "demo: running a randomly initialised width-8 model instead, to show the pipeline:"
    echo "demo: its output is NOT deblurred. Train one with 'sung train' (README) and set SUNG_MODEL."
    build/sung init --variant sung --width 8 --seed 0 -o build/demo/random.safetensors
    model_args=(--model build/demo/random.safetensors)
  fi
fi
for seq in build/demo/pairs/*/; do
  seq=${seq%/}
  name=$(basename "$seq")
  build/sung deblur "${model_args[@]}" "$seq/blur/000000.png" -o "build/demo/$name-deblurred.png" \
    --compare "build/demo/$name-compare.png"
done
for f in data/photos/real-blur/*; do
  name=real-$(basename "${f%.*}")
  build/sung deblur "${model_args[@]}" "$f" -o "build/demo/$name-deblurred.png" --compare "build/demo/$name-compare.png"
done
build/sung eval "${model_args[@]}" --data build/demo/pairs --iters 4 --quiet --csv build/demo/pairs.csv 2>&1 | tail -n 1 \
  | sed 's/^/demo: deblurred pairs: /'
echo
echo "demo: wrote build/demo/*-compare.png (blurred | deblurred over their edge maps);"
echo "demo: real-*-compare.png are photos blurred by a real camera, with no sharp original"
