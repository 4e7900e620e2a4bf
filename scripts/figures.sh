#!/usr/bin/env bash
# scripts/figures.sh MODEL RESULTS [RUN]: the pictures of docs/RESULTS.md and the README,
# written into docs/figures/:
#
#   grid.png    before/after on the held-out test pairs of scripts/results.sh (run it first,
#               with the same MODEL, into RESULTS): 4 shake and 2 trajectory pairs chosen by
#               rule, not by eye (the pairs at the 10th, 37th, 63rd and 90th percentile of
#               blurred PSNR, and at the 25th and 75th for the trajectory kernels), each a
#               256x192 crop at full resolution where the sharp picture has the most
#               detail (of the 256x192 cells, the one with the largest mean morphological
#               gradient): blurred | deblurred (4 iterations) | sharp, labelled with the
#               whole picture's PSNR;
#   real.png    MODEL on the really blurred photos of data/photos/real-blur (opencv-doc's
#               licenseplate_motion.jpg and text_motion.jpg; no sharp original): before | after;
#   curves.png  `sung plot RUN` (training loss and validation PSNR), when RUN is given.
#
# Needs ImageMagick (montage, convert, identify) and librsvg2-bin (rsvg-convert); installs them where
# missing (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ] || [ $# -gt 3 ] || [ "${1:0:1}" = "-" ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
model=$1 res=$2 run=${3:-}
sung=build/sung
[ -x "$sung" ] || { echo "figures: build first (make)" >&2; exit 1; }
[ -f "$model" ] || { echo "figures: no model file $model" >&2; exit 1; }
for kind in shake trajectory; do
  [ -f "$res/model-$kind-skimage.csv" ] || {
    echo "figures: $res has no model-$kind-skimage.csv: run scripts/results.sh MODEL $res first" >&2
    exit 1
  }
done
[ -z "$run" ] || [ -f "$run/log.csv" ] || { echo "figures: $run is not a run directory (no log.csv)" >&2; exit 1; }

missing=()
command -v montage >/dev/null || missing+=(imagemagick)
command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
if [ ${#missing[@]} -gt 0 ]; then
  echo "figures: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

out=docs/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# psnr FILE.csv NAME: the PSNR column of one image (flat name, as results.sh writes them)
psnr() { awk -F, -v n="$2" '$1 == n { printf "%.2f", $2 }' "$1"; }
# picks KIND P...: the flat names of the pairs at these percentiles of blurred PSNR
picks() {
  local kind=$1; shift
  local sorted
  sorted=$(tail -n +2 "$res/blurred-$kind-matlab.csv" | sort -t, -k2,2g | cut -d, -f1)
  local n
  n=$(wc -l <<<"$sorted")
  for p in "$@"; do sed -n "$(( (p * (n - 1) + 50) / 100 + 1 ))p" <<<"$sorted"; done
}
# saved KIND FLAT: the deblurred image (iteration 4) results.sh saved for this pair
saved() {
  local seq=${2%-*} num=${2##*-}
  for d in "$res/saved-$1/iters-4" "$res/saved-$1"; do
    [ -f "$d/$seq/blur/$num" ] && { echo "$d/$seq/blur/$num"; return; }
  done
  echo "figures: no deblurred image for $1 $2 in $res" >&2
  return 1
}

# detail IMG: the offset +X+Y of its 256x192 cell with the most detail
detail() {
  local w h cw ch
  read -r w h < <(identify -format '%w %h' "$1")
  cw=$((w / 256)) ch=$((h / 192))
  convert "$1" -crop "$((cw * 256))x$((ch * 192))+0+0" +repage -colorspace gray -morphology edge diamond:1 \
    -scale "${cw}x${ch}!" -depth 16 txt:- |
    awk -F'[,:() ]+' 'NR > 1 && $4 > best { best = $4; x = $1; y = $2 } END { printf "+%d+%d", x * 256, y * 192 }'
}

# labelled SRC LABEL DST [CROP]: SRC (cropped) with LABEL written under it (montage's own
# labels go missing on its last row)
labelled() {
  convert "$1" ${4:+-crop "$4" +repage} -background white -gravity south -splice 0x18 -pointsize 13 \
    -annotate +0+2 "$2" -depth 8 "$3"
}

tiles=()
add_row() { # KIND FLAT
  local kind=$1 flat=$2 seq=${2%-*} num=${2##*-} i=${#tiles[@]}
  local b=data/test/$kind/$seq/blur/$num g=data/test/$kind/$seq/sharp/$num d
  d=$(saved "$kind" "$flat")
  local pb pd
  pb=$(psnr "$res/blurred-$kind-matlab.csv" "$flat")
  pd=$(psnr "$res/model-$kind-skimage.csv" "$flat")
  local what=(blurred deblurred sharp) src=("$b" "$d" "$g") at
  at=$(detail "$g")
  local label=("$kind blur: $pb dB" "deblurred: $pd dB" "sharp: ${seq:0:24}")
  for k in 0 1 2; do
    labelled "${src[$k]}" "${label[$k]}" "$tmp/$i-$k-${what[$k]}.png" "256x192$at"
    tiles+=("$tmp/$i-$k-${what[$k]}.png")
  done
}
while read -r f; do add_row shake "$f"; done < <(picks shake 10 37 63 90)
while read -r f; do add_row trajectory "$f"; done < <(picks trajectory 25 75)
montage "${tiles[@]}" -tile 3x -geometry +3+3 -background white -depth 8 "$out/grid.png"
echo "figures: wrote $out/grid.png"

real=()
for f in data/photos/real-blur/licenseplate_motion.jpg data/photos/real-blur/text_motion.jpg; do
  [ -f "$f" ] || { echo "figures: no $f: run scripts/get-photos.sh" >&2; exit 1; }
  name=$(basename "${f%.*}")
  "$sung" deblur --model "$model" "$f" -o "$tmp/$name-deblurred.png" --quiet
  labelled "$f" "$name (real blur)" "$tmp/$name-before.png"
  labelled "$tmp/$name-deblurred.png" "deblurred" "$tmp/$name-after.png"
  real+=("$tmp/$name-before.png" "$tmp/$name-after.png")
done
montage "${real[@]}" -tile 2x -geometry +3+3 -background white -depth 8 "$out/real.png"
echo "figures: wrote $out/real.png"

if [ -n "$run" ]; then
  "$sung" plot "$run" -o "$tmp/curves.svg"
  rsvg-convert -b white "$tmp/curves.svg" -o "$out/curves.png"
  echo "figures: wrote $out/curves.png"
fi
