#!/bin/sh
# The training step of issue 4's shape (width 32, batch 4, 128², 3 iterations), C bf16,
# C fp32 and PyTorch fp32, interleaved for ROUNDS rounds (default 3), 2 threads each:
# the side-by-side check of docs/BENCHMARKS.md when the machine is too noisy for one
# `make bench` to settle it. Pause any background training first.
#   bench/train_ratio.sh [ROUNDS]
set -e
cd "$(dirname "$0")/.."
rounds=${1:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
uptime
r=1
while [ "$r" -le "$rounds" ]; do
    echo "round $r"
    for p in bf16 fp32; do
        printf '%s  ' "C $p"
        build/sung bench --what train --precision "$p" --runs 3 2>&1 | grep 'training step'
    done
    printf 'PyTorch fp32  '
    /usr/bin/python3 tests/ref/bench_ref.py --train --no-infer --batch 4 --patch 128 --runs 3 \
        --threads "$OMP_NUM_THREADS" | grep -o '"train_step_s": [0-9.]*'
    r=$((r + 1))
done
