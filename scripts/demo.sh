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
if [ -z "${SUNG_MODEL:-}" ]; then
  if [ -f models/sung.safetensors ]; then
    echo
    echo "demo: the default weights (models/sung.safetensors) are partly trained: they gain about +1.35 dB"
    echo "demo: on held-out photos, sharpen mild blur and leave strong blur, like the real photos', mostly as"
    echo "demo: it is (docs/RESULTS.md)."
  else
    echo "demo: models/sung.safetensors is missing and SUNG_MODEL is not set: running a randomly initialised"
    echo "demo: width-8 model instead, to show the pipeline: its output is NOT deblurred."
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
