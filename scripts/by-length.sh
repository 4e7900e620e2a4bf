#!/usr/bin/env bash
# scripts/by-length.sh PAIRS.csv SCORES.csv: the mean PSNR gain over the blurred input by
# blur length, from the pairs' CSV that `sung synth --csv` wrote (pair, blurred_psnr,
# length_px: the longest path a pixel travelled during the exposure) and a model's
# per-image scores (`sung eval --csv`: image,psnr,... with image SEQ/NNNNNN.png, or
# SEQ-NNNNNN.png as scripts/results.sh's flat views name them). One line per bin:
# under 20 px, 20-40 px, 40 px and more.
set -euo pipefail
if [ $# -ne 2 ] || [ "${1:0:1}" = "-" ]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
for f in "$1" "$2"; do [ -r "$f" ] || { echo "by-length: cannot read $f" >&2; exit 1; }; done
awk -F, '
  NR == FNR { if (FNR > 1) { len[$1] = $8; blur[$1] = $4 } next }
  FNR > 1 {
    p = $1
    if (!(p in len)) { k = match(p, /-[0-9]+\.png$/); if (k) p = substr(p, 1, k - 1) "/" substr(p, k + 1) }
    if (!(p in len)) next
    l = len[p]; b = l < 20 ? 1 : l < 40 ? 2 : 3
    gain[b] += $2 - blur[p]; n[b]++; worse[b] += $2 < blur[p]; seen++
  }
  END {
    if (!seen) { print "by-length: no image of the scores is in the pairs CSV" > "/dev/stderr"; exit 1 }
    split("under 20 px|20-40 px|40 px and more", name, "|")
    for (b = 1; b <= 3; b++)
      if (n[b]) printf "%-16s %2d images, mean gain %+.2f dB, %d worse\n", name[b] ":", n[b], gain[b] / n[b], worse[b]
  }' "$1" "$2"
