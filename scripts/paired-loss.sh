#!/usr/bin/env bash
# scripts/paired-loss.sh [--from STEP] [--window N] A B: compare two training runs step by
# step on their own training loss. A and B are run directories (their log.csv) or log.csv
# files of `sung train`. Two arms forked from one state with the same --seed draw the same
# crops and blurs at every step, so the difference of their losses at a step is free of the
# draw, which moves a run's own loss by far more from step to step than most recipe changes
# do. Only steps both logs have are used (a step replayed after a resume: its last line),
# from STEP on (default: all). Prints per window of N steps (default 100) the mean pixel
# term and the mean loss of each arm and B's difference in per cent of A's, then over all
# the steps the mean difference of the pixel term with its standard error, and the slope of
# that difference per 1,000 steps (does B pull away from A, or towards it?). The first
# standard errors treat the steps as independent. They are at the fork, but the arms'
# weights drift apart, and then a step's difference carries that drift into the next
# steps: in chunk 22 (docs/RESULTS.md) the windows' differences wandered by ±1 % over a few
# hundred steps and back, with |t| over 5 on the way. So with 3 windows or more it also
# takes the windows' means as the samples (a window of N steps should be longer than such
# a drift), and that is the t to read.
set -euo pipefail
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
from=0 window=100
while [ $# -gt 0 ]; do
  case "$1" in
    --from) [ $# -ge 2 ] || usage; from=$2; shift 2 ;;
    --window) [ $# -ge 2 ] || usage; window=$2; shift 2 ;;
    --help|-h) usage ;;
    -*) echo "paired-loss: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
case "$from$window" in *[!0-9]*) echo "paired-loss: --from and --window take whole numbers" >&2; exit 2 ;; esac
[ "$window" -gt 0 ] || { echo "paired-loss: --window must be positive" >&2; exit 2; }
logs=()
for r in "$1" "$2"; do
  f=$r; [ -d "$r" ] && f=$r/log.csv
  [ -r "$f" ] || { echo "paired-loss: cannot read $f" >&2; exit 1; }
  head -n 1 "$f" | grep -q '^step,epoch,lr,loss,pixel,' \
    || { echo "paired-loss: $f is not a sung train log.csv (step,epoch,lr,loss,pixel,...)" >&2; exit 1; }
  logs+=("$f")
done
awk -F, -v from="$from" -v window="$window" '
  FNR == 1 { file++; next }
  $1 + 0 < from { next }
  file == 1 { la[$1] = $4; pa[$1] = $5; next }
  { lb[$1] = $4; pb[$1] = $5 }
  END {
    for (s in pa) if (s in pb) { n++; step[n] = s + 0 }
    if (n < 2) { print "paired-loss: fewer than 2 steps in both logs" > "/dev/stderr"; exit 1 }
    # insertion sort of the common steps (a few thousand at most)
    for (i = 2; i <= n; i++) { v = step[i]; for (j = i - 1; j >= 1 && step[j] > v; j--) step[j + 1] = step[j]; step[j + 1] = v }
    printf "%-13s %5s %10s %10s %8s %10s %10s %8s\n", "steps", "n", "pixel A", "pixel B", "B-A %", "loss A", "loss B", "B-A %"
    w0 = 1
    for (i = 1; i <= n; i++) {
      s = step[i]; d[i] = pb[s] - pa[s]
      sa += pa[s]; sb += pb[s]; ta += la[s]; tb += lb[s]; k++
      if (i == n || int((step[i + 1] - step[1]) / window) != int((s - step[1]) / window)) {
        printf "%6d-%-6d %5d %10.5f %10.5f %+8.2f %10.5f %10.5f %+8.2f\n", step[w0], s, k,
               sa / k, sb / k, 100 * (sb - sa) / sa, ta / k, tb / k, 100 * (tb - ta) / ta
        nw++; wd[nw] = (sb - sa) / k # the mean difference of the pixel term in this window
        sa = sb = ta = tb = k = 0; w0 = i + 1
      }
    }
    for (i = 1; i <= n; i++) { md += d[i]; mx += step[i]; mpa += pa[step[i]] }
    md /= n; mx /= n; mpa /= n
    for (i = 1; i <= n; i++) { vd += (d[i] - md) ^ 2; sxx += (step[i] - mx) ^ 2; sxy += (step[i] - mx) * (d[i] - md) }
    se = sqrt(vd / (n - 1) / n)
    printf "pixel B-A over %d steps: %+.6f (%+.3f %% of A), standard error %.6f, t %+.2f\n",
           n, md, 100 * md / mpa, se, (se > 0 ? md / se : 0)
    if (nw >= 3) { # the windows as the samples: what drifts within a window stays in it
      for (i = 1; i <= nw; i++) mw += wd[i] / nw
      for (i = 1; i <= nw; i++) vw += (wd[i] - mw) ^ 2
      sw = sqrt(vw / (nw - 1) / nw)
      printf "the same from the %d windows'"'"' means: %+.6f, standard error %.6f, t %+.2f\n", nw, mw, sw, (sw > 0 ? mw / sw : 0)
    }
    if (sxx > 0) {
      b = sxy / sxx; r = 0
      for (i = 1; i <= n; i++) r += (d[i] - md - b * (step[i] - mx)) ^ 2
      seb = n > 2 ? sqrt(r / (n - 2) / sxx) : 0
      printf "slope of pixel B-A: %+.6f per 1,000 steps, standard error %.6f\n", 1000 * b, 1000 * seb
    }
  }' "${logs[@]}"
