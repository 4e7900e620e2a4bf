"""Times the PyTorch reference (float32, CPU) to compare with the C engine.

    /usr/bin/python3 tests/ref/bench_ref.py --variant sung --width 32 --size 720x1280 \\
        --iters 4 --threads 16 [--runs 5] [--train --batch 16 --patch 256 --train-iters 3]

Inference: sung_ref.infer (reflect pad, pyramid, scale loop, crop) on one H×W image under
torch.no_grad(); the median of --runs runs after one warm-up. Training (--train): one
step = forward and backward over the scales of a batch, then one Adam step; the median of
--runs steps after one warm-up. Prints one JSON line.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sung_ref as R  # noqa: E402


def timed(fn, runs):
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def main():
    ap = argparse.ArgumentParser(description="time the PyTorch reference")
    ap.add_argument("--variant", default="sung", choices=R.VARIANTS)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--size", default="256x256", help="HxW of the inference image")
    ap.add_argument("--iters", type=int, default=4, help="scale iterations for inference")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--train", action="store_true", help="also time one training step")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--train-iters", type=int, default=3)
    ap.add_argument("--no-infer", action="store_true", help="time training only")
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.lower().split("x"))
    torch.set_num_threads(a.threads)
    model = R.SUNG(a.variant, a.width, seed=0)
    n, t = R.param_count(model)
    res = {"engine": "pytorch-ref", "torch": torch.__version__, "variant": a.variant,
           "width": a.width, "params": n, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "runs": a.runs}
    rng = np.random.RandomState(0)
    if not a.no_infer:
        img = torch.from_numpy(rng.rand(1, 3, h, w).astype(np.float32))
        with torch.no_grad():
            med, ts = timed(lambda: R.infer(model, img, a.iters), a.runs)
        res.update({"size": f"{h}x{w}", "iters": a.iters, "infer_s": round(med, 4),
                    "infer_runs_s": [round(v, 4) for v in ts],
                    "infer_mpix_per_s": round(h * w / 1e6 / med, 4)})
    if a.train:
        m = 1 << (a.train_iters + 2)
        if a.patch % m:
            ap.error(f"--patch must be a multiple of {m} for --train-iters {a.train_iters}")
        blur = torch.from_numpy(rng.rand(a.batch, 3, a.patch, a.patch).astype(np.float32))
        sharp = torch.from_numpy(rng.rand(a.batch, 3, a.patch, a.patch).astype(np.float32))
        opt = R.make_adam(model)

        def train_step():
            opt.zero_grad()
            loss = R.train_loss(model, blur, sharp, a.train_iters)[0]
            loss.backward()
            opt.step()

        med, ts = timed(train_step, a.runs)
        res.update({"batch": a.batch, "patch": a.patch, "train_iters": a.train_iters,
                    "train_step_s": round(med, 4), "train_runs_s": [round(v, 4) for v in ts]})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
