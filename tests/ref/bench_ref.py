"""Times the PyTorch reference (float32, CPU) to compare with the C engine.

    /usr/bin/python3 tests/ref/bench_ref.py --variant sung --width 32 --size 720x1280 \\
        --iters 4 --threads 16 [--runs 5] [--layers] [--train --batch 16 --patch 256 --train-iters 3]

Inference: sung_ref.infer (reflect pad, pyramid, scale loop, crop) on one H×W image under
torch.no_grad(); the median of --runs runs after one warm-up. Training (--train): one
step = forward and backward over the scales of a batch, then one Adam step; the median of
--runs steps after one warm-up; --train-precision bf16 runs its forward under CPU autocast
to bfloat16 (PyTorch's mixed precision, for reference). Prints one JSON line.

--layers: the time of every nn.Conv2d / nn.ConvTranspose2d call of those inference runs
(forward pre/post hooks, time.perf_counter; on the CPU torch runs synchronously), summed
per layer type under the names `sung bench` uses: "conv KxK", "conv KxK /2" (stride 2),
"tconv 5x5 x2" (transposed) and "conv 3x3 + shuffle" for the `up` conv of a path (the C
engine fuses it with the pixel shuffle; here it is the conv alone, the shuffle falls in
"other"). FLOPs per call: 2·k·k·Cin·Cout·(output pixels), for the transposed conv
(input pixels), as the C side counts them. Rows are medians over the runs; "other" is the
median of each run's time outside the convolutions. The hooks cost a few microseconds
per call, some hundreds of calls per inference: nothing next to its seconds.
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
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sung_ref as R  # noqa: E402


def timed(fn, runs, before=None, after=None):
    """Median and list of `runs` timings of fn() after one warm-up; before() and
    after(seconds) are called around every run, the warm-up included, outside the timing."""
    ts = []
    for r in range(runs + 1):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        if after:
            after(dt)
        if r:
            ts.append(dt)
    return statistics.median(ts), ts


def layer_type(name, mod):
    """The C engine's name for a convolution module (sung_profile_get)."""
    k, s = mod.kernel_size[0], mod.stride[0]
    if isinstance(mod, nn.ConvTranspose2d):
        return f"tconv {k}x{k} x{s}"
    t = f"conv {k}x{k}" + (f" /{s}" if s > 1 else "")
    # Path.up (deblur.up, edge.up) is the conv before the pixel shuffle; DBlock's `up`
    # is the transposed conv above, so a Conv2d named up is always this one.
    if name.rsplit(".", 1)[-1] == "up":
        t += " + shuffle"
    return t


class LayerTimer:
    """Per-layer-type time of every convolution call, by forward pre/post hooks."""

    def __init__(self, model):
        self.runs = []  # per finished run: ({type: [calls, seconds, flops]}, total seconds)
        self.rows = {}
        self.order = []
        for name, mod in model.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                t = layer_type(name, mod)
                if t not in self.order:
                    self.order.append(t)
                mod.register_forward_pre_hook(self._pre)
                mod.register_forward_hook(lambda m, i, o, t=t: self._post(t, m, i, o))

    def _pre(self, mod, inp):
        self.t0 = time.perf_counter()

    def _post(self, t, mod, inp, out):
        dt = time.perf_counter() - self.t0
        k = mod.kernel_size[0] * mod.kernel_size[1]
        x = inp[0] if isinstance(mod, nn.ConvTranspose2d) else out
        pix = x.shape[0] * x.shape[2] * x.shape[3]
        row = self.rows.setdefault(t, [0, 0.0, 0.0])
        row[0] += 1
        row[1] += dt
        row[2] += 2.0 * k * mod.in_channels * mod.out_channels * pix

    def start(self):
        self.rows = {}

    def stop(self, total):
        self.runs.append((self.rows, total))

    def report(self, skip=1):
        """Rows as medians over the runs after the first `skip` (the warm-up)."""
        runs = self.runs[skip:]
        out = []
        other = [tot - sum(r[1] for r in rows.values()) for rows, tot in runs]
        for t in self.order:
            first = runs[0][0].get(t)
            if not first:
                continue
            s = statistics.median(rows.get(t, [0, 0.0])[1] for rows, _ in runs)
            out.append({"name": t, "calls": first[0], "s": round(s, 5), "gflop": round(first[2] / 1e9, 4),
                        "gflops": round(first[2] / s / 1e9, 2) if s > 0 else None})
        out.append({"name": "other", "s": round(statistics.median(other), 5)})
        return out


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
    ap.add_argument("--train-precision", default="fp32", choices=("fp32", "bf16"),
                    help="bf16: the training step's forward under torch.autocast('cpu', torch.bfloat16) "
                         "(PyTorch's own mixed precision; fp32 weights and Adam)")
    ap.add_argument("--no-infer", action="store_true", help="time training only")
    ap.add_argument("--layers", action="store_true",
                    help="also the time per layer type (conv KxK, /2, tconv, + shuffle) of the inference runs")
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
        lt = LayerTimer(model) if a.layers else None
        with torch.no_grad():
            med, ts = timed(lambda: R.infer(model, img, a.iters), a.runs,
                            lt and lt.start, lt and lt.stop)
        res.update({"size": f"{h}x{w}", "iters": a.iters, "infer_s": round(med, 4),
                    "infer_runs_s": [round(v, 4) for v in ts],
                    "infer_mpix_per_s": round(h * w / 1e6 / med, 4)})
        if lt:
            res.update({"layers": lt.report(), "layers_total_s": round(med, 5)})
    if a.train:
        m = 1 << (a.train_iters + 2)
        if a.patch % m:
            ap.error(f"--patch must be a multiple of {m} for --train-iters {a.train_iters}")
        blur = torch.from_numpy(rng.rand(a.batch, 3, a.patch, a.patch).astype(np.float32))
        sharp = torch.from_numpy(rng.rand(a.batch, 3, a.patch, a.patch).astype(np.float32))
        opt = R.make_adam(model)

        def train_step():
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.train_precision == "bf16"):
                loss = R.train_loss(model, blur, sharp, a.train_iters)[0]
            loss.backward()
            opt.step()

        med, ts = timed(train_step, a.runs)
        res.update({"batch": a.batch, "patch": a.patch, "train_iters": a.train_iters,
                    "train_precision": a.train_precision,
                    "train_step_s": round(med, 4), "train_runs_s": [round(v, 4) for v in ts]})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
