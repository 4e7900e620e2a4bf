#!/usr/bin/env bash
# scripts/results.sh [--quick] MODEL OUTDIR: the held-out evaluation of docs/RESULTS.md.
#
#   1. the test pairs, made once from data/photos/test (scripts/get-photos.sh) with fixed
#      seeds: data/test/shake and data/test/trajectory, 16 pairs of 1280x720 each;
#   2. the blurred inputs against the sharp images: OUTDIR/blurred-KIND-{matlab,skimage}.csv;
#   3. MODEL on them at test iterations 1..4 (--quick: 4 only), PSNR and MATLAB SSIM:
#      OUTDIR/model-KIND.csv, the deblurred images in OUTDIR/saved-KIND/, and skimage SSIM
#      of iteration 4: OUTDIR/model-KIND-skimage.csv, and its mean gain by blur length
#      (scripts/by-length.sh).
# The model runs in fp32, the reference arithmetic (sung's default, bf16 where the CPU has
# avx512_bf16, moves the shipped weights' means by -0.01 dB: docs/BENCHMARKS.md).
# Prints one summary line per measurement (the lines docs/RESULTS.md quotes).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
if [ $# -ne 2 ] || [ "${1:0:1}" = "-" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
model=$1 out=$2
sung=build/sung
[ -x "$sung" ] || { echo "results: build first (make)" >&2; exit 1; }
[ -f "$model" ] || { echo "results: no model file $model" >&2; exit 1; }
[ -d data/photos/test ] || { echo "results: no test photos: run scripts/get-photos.sh" >&2; exit 1; }
mkdir -p "$out" data/test

for kind in shake trajectory; do
  if [ ! -d "data/test/$kind" ]; then
    "$sung" synth --photos data/photos/test --out "data/test/$kind" --kind "$kind" --count 16 --seed 2026 \
      --max-side 1920 --quiet --csv "data/test/$kind.csv"
  fi
done

# flat views (name = sequence-number.png) of a GoPro-layout folder, for eval --pred/--gt
flat() { # flat SRC-ROOT SUBDIR DEST
  rm -rf "$3" && mkdir -p "$3"
  for f in "$1"/*/"$2"/*.png; do
    seq=$(basename "$(dirname "$(dirname "$f")")")
    ln -s "$(realpath "$f")" "$3/$seq-$(basename "$f")"
  done
}

summary() { tail -n 1 | sed "s/^/$1: /"; }

for kind in shake trajectory; do
  flat "data/test/$kind" blur "$out/.flat-$kind-blur"
  flat "data/test/$kind" sharp "$out/.flat-$kind-sharp"
  for ssim in matlab skimage; do
    "$sung" eval --pred "$out/.flat-$kind-blur" --gt "$out/.flat-$kind-sharp" --ssim "$ssim" \
      --csv "$out/blurred-$kind-$ssim.csv" | summary "blurred $kind ($ssim SSIM)"
  done
  iters=all
  [ "$quick" = 1 ] && iters=4
  rm -rf "$out/saved-$kind"
  "$sung" eval --model "$model" --data "data/test/$kind" --iters "$iters" --csv "$out/model-$kind.csv" --quiet \
    --precision fp32 \
    --save "$out/saved-$kind" | grep -E 'images' | sed "s/^/model $kind: /"
  saved=$out/saved-$kind/iters-4
  [ "$quick" = 1 ] && saved=$out/saved-$kind
  flat "$saved" blur "$out/.flat-$kind-model"
  "$sung" eval --pred "$out/.flat-$kind-model" --gt "$out/.flat-$kind-sharp" --ssim skimage \
    --csv "$out/model-$kind-skimage.csv" | summary "model $kind, 4 iterations (skimage SSIM)"
  scripts/by-length.sh "data/test/$kind.csv" "$out/model-$kind-skimage.csv" | sed "s/^/model $kind, blur /"
done
