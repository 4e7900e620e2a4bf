#!/usr/bin/env bash
# tests/test_scripts.sh: the scripts of scripts/ that make no pictures: the analysis ones
# on small inputs whose answers are worked out by hand below (scripts/by-length.sh,
# scripts/paired-loss.sh), and what scripts/train-main.sh --dry-run would run. Prints each
# wrong answer, naming it; exits 1 if there was one.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$here/tests/testutil.sh"

# ---- by-length.sh: gains by blur length -----------------------------------------------
cat >"$tmp/pairs.csv" <<'EOF'
pair,photo,seed,blurred_psnr,kind,frames,gamma,length_px
a/000000.png,a.jpg,1,20.0,shake,9,2.2,10
a/000001.png,a.jpg,2,22.0,shake,9,2.2,19.9
b/000000.png,b.jpg,3,25.0,shake,9,2.2,20
c/000000.png,c.jpg,4,18.0,shake,9,2.2,85
EOF
# gains: +2, -1 (under 20: mean +0.50, 1 worse), +1.5 (20-40: 20 px is in it), +0.25 (40 and more); the
# flat name c-000000.png (scripts/results.sh's views) is the pair c/000000.png
cat >"$tmp/scores.csv" <<'EOF'
image,psnr,ssim
a/000000.png,22.0,0.9
a/000001.png,21.0,0.9
b/000000.png,26.5,0.9
c-000000.png,18.25,0.9
EOF
out=$("$here/scripts/by-length.sh" "$tmp/pairs.csv" "$tmp/scores.csv" 2>&1); rc=$?
expect_rc "by-length runs" 0 $rc
expect "by-length under 20" '^under 20 px: +2 images, mean gain \+0\.50 dB, 1 worse$' "$out"
expect "by-length 20-40" '^20-40 px: +1 images, mean gain \+1\.50 dB, 0 worse$' "$out"
expect "by-length 40+" '^40 px and more: +1 images, mean gain \+0\.25 dB, 0 worse$' "$out"
echo 'image,psnr' >"$tmp/none.csv"; echo 'z/000000.png,30' >>"$tmp/none.csv"
out=$("$here/scripts/by-length.sh" "$tmp/pairs.csv" "$tmp/none.csv" 2>&1); rc=$?
expect_rc "by-length, no common image" 1 $rc
expect "by-length, no common image says so" 'no image of the scores' "$out"

# ---- paired-loss.sh: two arms on the same steps ---------------------------------------
# A's pixel term 0.1 at every step, B's 0.1 + 0.001·step over steps 1-4 (step 2 of A
# replayed after a resume: its last line counts), total loss 1 and 1.1. So B-A = 0.001,
# 0.002, 0.003, 0.004: mean 0.0025 (+2.5 % of A), a slope of exactly 1 per 1,000 steps.
hdr='step,epoch,lr,loss,pixel,edge_aux,edge_sup,val_psnr,seconds'
{ echo "$hdr"
  echo '1,1,1e-4,1.0,0.1,0,0,,1'
  echo '2,1,1e-4,9.0,0.9,0,0,,1'
  echo '2,1,1e-4,1.0,0.1,0,0,,1'
  echo '3,1,1e-4,1.0,0.1,0,0,,1'
  echo '4,1,1e-4,1.0,0.1,0,0,,1'
  echo '5,1,1e-4,1.0,0.1,0,0,,1'; } >"$tmp/a.csv"
mkdir "$tmp/runb"
{ echo "$hdr"
  for s in 1 2 3 4; do echo "$s,1,1e-4,1.1,$(awk -v s=$s 'BEGIN { printf "%.3f", 0.1 + 0.001 * s }'),0,0,,1"; done
} >"$tmp/runb/log.csv"
out=$("$here/scripts/paired-loss.sh" --window 2 "$tmp/a.csv" "$tmp/runb" 2>&1); rc=$?
expect_rc "paired-loss runs" 0 $rc
expect "paired-loss first window" '^ +1-2 +2 +0\.10000 +0\.10150 +\+1\.50 +1\.00000 +1\.10000 +\+10\.00$' "$out"
expect "paired-loss second window" '^ +3-4 +2 +0\.10000 +0\.10350 +\+3\.50 ' "$out"
expect "paired-loss mean" '^pixel B-A over 4 steps: \+0\.002500 \(\+2\.500 % of A\)' "$out"
expect "paired-loss slope" '^slope of pixel B-A: \+1\.000000 per 1,000 steps, standard error 0\.000000$' "$out"
expect "paired-loss: 2 windows are too few to be the samples" '^slope' "$out"
checks=$((checks + 1))
if grep -q "windows' means" <<<"$out"; then failed=$((failed + 1)); echo "FAIL paired-loss used 2 windows as samples"; fi
# windows of one step: the 4 differences are the samples, sd 0.00129, standard error 0.000645
out=$("$here/scripts/paired-loss.sh" --window 1 "$tmp/a.csv" "$tmp/runb" 2>&1); rc=$?
expect_rc "paired-loss --window 1" 0 $rc
expect "paired-loss from the windows" "^the same from the 4 windows' means: \+0\.002500, standard error 0\.000645, t \+3\.87$" "$out"
out=$("$here/scripts/paired-loss.sh" --from 3 "$tmp/a.csv" "$tmp/runb" 2>&1); rc=$?
expect_rc "paired-loss --from" 0 $rc
expect "paired-loss --from keeps steps 3-4" '^pixel B-A over 2 steps: \+0\.003500' "$out"
out=$("$here/scripts/paired-loss.sh" --from 4 "$tmp/a.csv" "$tmp/runb" 2>&1); rc=$?
expect_rc "paired-loss, one common step" 1 $rc
expect "paired-loss, one common step says so" 'fewer than 2 steps' "$out"
out=$("$here/scripts/paired-loss.sh" "$tmp/a.csv" "$tmp/pairs.csv" 2>&1); rc=$?
expect_rc "paired-loss, not a log" 1 $rc
expect "paired-loss, not a log says so" 'not a sung train log.csv' "$out"
out=$("$here/scripts/paired-loss.sh" "$tmp/a.csv" "$tmp/missing" 2>&1); rc=$?
expect_rc "paired-loss, missing log" 1 $rc
out=$("$here/scripts/paired-loss.sh" --window 0 "$tmp/a.csv" "$tmp/runb" 2>&1); rc=$?
expect_rc "paired-loss --window 0" 2 $rc
out=$("$here/scripts/paired-loss.sh" "$tmp/a.csv" 2>&1); rc=$?
expect_rc "paired-loss, one run" 2 $rc

# ---- train-main.sh --dry-run: what a new machine would run, and nothing run ----------
skipped=0
if ! command -v pgrep >/dev/null; then
  skipped=1
  echo "SKIP train-main.sh: pgrep is missing (Debian: procps), which it needs"
else
out=$("$here/scripts/train-main.sh" --dry-run --dir "$tmp/train" --seed 42 2>&1); rc=$?
expect_rc "train-main --dry-run" 0 $rc
expect "train-main fetches the photos" 'get-photos\.sh --more .*/train/photos-more$' "$out"
expect "train-main makes val720b with its seed" 'synth --photos photos-more/val --out val720b --count 34 --size 1280x720 --max-side 1920 --seed 11\)$' "$out"
expect "train-main makes valmild with its seed" 'synth .*--out valmild --count 17 .*--seed 21 --strength 0\.25 ' "$out"
expect "train-main makes val720b-clean with val720b's seed" 'synth .*--out val720b-clean --count 34 --size 1280x720 --max-side 1920 --seed 11 --noise 0 ' "$out"
expect "train-main validates on the three sets" 'train .*--val val720b,valmild,val720b-clean ' "$out"
expect "train-main validates every 2 epochs, as the run has since step 3,640" "train .* --val-every 2 " "$out"
expect "train-main starts from the snapshot" 'train --photos photos-more/train --out main-w32-p384m-sb100b-it4 --model .*/models/snapshots/sung-w32-p384m\.safetensors .*--seed 42 ' "$out"
checks=$((checks + 1))
if [ -e "$tmp/train" ]; then failed=$((failed + 1)); echo "FAIL train-main --dry-run created $tmp/train"; fi
mkdir -p "$tmp/train/main-w32-p384m-sb100b-it4" "$tmp/train/photos-more/train" "$tmp/train/val720b" "$tmp/train/valmild" \
  "$tmp/train/val720b-clean"
: >"$tmp/train/main-w32-p384m-sb100b-it4/state.safetensors"
out=$("$here/scripts/train-main.sh" --dry-run --dir "$tmp/train" 2>&1); rc=$?
expect_rc "train-main --dry-run, a run there" 0 $rc
expect "train-main resumes a run it finds" 'train --photos photos-more/train --resume main-w32-p384m-sb100b-it4 >>' "$out"
checks=$((checks + 1))
if grep -q 'synth\|get-photos' <<<"$out"; then failed=$((failed + 1)); echo "FAIL train-main remade what was there: $out"; fi
fi
out=$("$here/scripts/train-main.sh" --seed 4x 2>&1); rc=$?
expect_rc "train-main --seed 4x" 2 $rc

if [ "$skipped" -gt 0 ]; then
  echo "test_scripts: $checks checks, $failed failed, $skipped skipped (see SKIP lines)"
else
  echo "test_scripts: $checks checks, $failed failed"
fi
[ "$failed" -eq 0 ]
