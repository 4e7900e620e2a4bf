#!/usr/bin/env bash
# scripts/train-main.sh [--dir DIR] [--seed S] [--dry-run]: start or resume the default
# model's training run (issue 8) in the background, as docs/RESULTS.md's chunks do, on any
# machine: the run directory DIR (default /var/lib/sung-train) is outside the repository
# and outlives the session only when the machine does.
#
# In order, each step skipped when its result is already there:
#   1. DIR/bin/sung.HASH: a copy of build/sung (run `make` first) named by the commit, and
#      DIR/bin/sung pointing to it, so that a rebuild of the repository never changes the
#      binary under a running process;
#   2. DIR/photos-more: scripts/get-photos.sh --more (the 91 training photos);
#   3. DIR/val720b, DIR/valmild and DIR/val720b-clean: the validation sets, with the seeds
#      of docs/RESULTS.md (blurred 25.80, 30.50 and 26.67 dB: the script checks it;
#      val720b-clean is val720b without the sensor noise, which tells deblurring from
#      denoising);
#   4. the run DIR/main-w32-p384m-sb100b-it4: nothing when a process already trains it;
#      `--resume` when its state is there; else a new run from the committed snapshot
#      models/snapshots/sung-w32-p384m.safetensors with the recipe of chunks 17-23 and
#      seed S (default: from the date and hour, so that each new machine draws other crops
#      and blurs; the seed is printed, and RESULTS' row should name it).
# The run is niced (10), checkpoints every 5 minutes and logs to DIR/RUN.log; stop it
# with SIGTERM (it saves) and pause it with SIGSTOP / SIGCONT around benchmarks.
# --dry-run prints what would be run and runs nothing.
set -euo pipefail
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
dir=/var/lib/sung-train seed= dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --help|-h) usage ;;
    *) echo "train-main: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$seed" in *[!0-9]*) echo "train-main: --seed takes a whole number" >&2; exit 2 ;; esac
[ -n "$seed" ] || seed=$(date -u +%y%m%d%H)
repo=$(cd "$(dirname "$0")/.." && pwd)
run=main-w32-p384m-sb100b-it4
snapshot=$repo/models/snapshots/sung-w32-p384m.safetensors
say() { echo "train-main: $*"; }
do_() { # print, and run unless --dry-run
  echo "+ $*"
  [ "$dry" = 1 ] || "$@"
}

[ -x "$repo/build/sung" ] || { echo "train-main: $repo/build/sung missing: run make first" >&2; exit 1; }
[ -r "$snapshot" ] || { echo "train-main: $snapshot missing" >&2; exit 1; }
hash=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo local)
git -C "$repo" diff --quiet HEAD -- src tools include 2>/dev/null || hash=$hash-dirty
do_ mkdir -p "$dir/bin"
if [ ! -x "$dir/bin/sung.$hash" ] || [ "${hash%-dirty}" != "$hash" ]; then
  do_ cp "$repo/build/sung" "$dir/bin/sung.$hash"
fi
do_ ln -sfn "sung.$hash" "$dir/bin/sung"
bin=$dir/bin/sung

if [ ! -d "$dir/photos-more/train" ]; then
  do_ "$repo/scripts/get-photos.sh" --more "$dir/photos-more"
fi
make_val() { # NAME EXPECTED-MEAN SYNTH-ARGS...
  local name=$1 want=$2; shift 2
  [ -d "$dir/$name" ] && return 0
  echo "+ (cd $dir && $bin synth --photos photos-more/val --out $name $*)"
  [ "$dry" = 1 ] && return 0
  local got
  got=$(cd "$dir" && "$bin" synth --photos photos-more/val --out "$name" "$@" --quiet | sed -n 's/^blurred PSNR: mean \([0-9.]*\) dB.*/\1/p')
  if [ "$got" != "$want" ]; then
    echo "train-main: $dir/$name: blurred mean $got dB, not the $want of docs/RESULTS.md (other photos?)" >&2
    exit 1
  fi
}
make_val val720b 25.80 --count 34 --size 1280x720 --max-side 1920 --seed 11
make_val valmild 30.50 --count 17 --size 1280x720 --max-side 1920 --seed 21 --strength 0.25 --csv valmild-pairs.csv
make_val val720b-clean 26.67 --count 34 --size 1280x720 --max-side 1920 --seed 11 --noise 0 --csv val720b-clean-pairs.csv

running= # processes training this run in this DIR (the same run name elsewhere is another run)
command -v pgrep >/dev/null || { echo "train-main: pgrep missing (Debian: procps)" >&2; exit 1; }
for pid in $(pgrep -f "sung train .*(--out|--resume) $run( |\$)" || true); do
  [ "$(readlink -f "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$dir")" ] && running="$running $pid"
done
if [ -n "$running" ]; then
  say "$run is already training in $dir (pid$running)"
  exit 0
fi
if [ -d "$dir" ]; then cd "$dir"; else [ "$dry" = 1 ] || exit 1; fi
if [ -f "$dir/$run/state.safetensors" ]; then
  say "resuming $run at its last checkpoint"
  set -- "$bin" train --photos photos-more/train --resume "$run"
else
  [ ! -e "$dir/$run" ] || { echo "train-main: $dir/$run exists without a state: move it away first" >&2; exit 1; }
  say "a new $run from $snapshot, seed $seed"
  set -- "$bin" train --photos photos-more/train --out "$run" --model "$snapshot" --short-blur 1 --iters 4 \
    --val val720b,valmild,val720b-clean --patch 384 --batch 2 --lr 1.5e-4 --warmup 100 --lr-halve-every 1000 --epochs 100000 \
    --crops-per-photo 10 --val-every 2 --checkpoint-minutes 5 --seed "$seed" --ema 0.999 --precision bf16
fi
echo "+ (cd $dir && nohup nice -n 10 $* >> $run.log 2>&1 &)"
[ "$dry" = 1 ] && exit 0
nohup nice -n 10 "$@" >> "$run.log" 2>&1 &
say "pid $!, log $dir/$run.log"
