#!/usr/bin/python3
"""tests/ref/grad_full.py: one real training step's gradient, C against the reference, at
full size (a development check, not run by `make test`: the float64 reference takes
about 25 minutes on one core for two 384² pairs at 4 iterations).

    grad_full.py perturb W OUT.safetensors [--rel R] [--seed S]
        W with every weight multiplied by 1 + R·u, u uniform in [-1, 1] (default R = 2^-9,
        about bf16's rounding), written as F32: the exact gradient at a point as near to W
        as bf16's rounding of it is.
    grad_full.py compare W DATA [--iters I] [--ref REF.npz] G.safetensors...
        The reference's gradient of SPEC §6's loss on every pair of DATA (a `sung synth`
        set whose pairs are all the crop size, so that `sung train --data DATA --patch
        SIZE --batch N --no-augment --steps 1 --dump-grads G.safetensors` takes each pair
        whole), in float64 from W, against each G: the relative L2 difference over all
        parameters, and per tensor the median and the largest. REF.npz keeps the
        reference's gradient (computed once; read when it exists).

The loss and the gradient are means over the batch, as the C trainer's are, so the order
in which the C trainer draws the pairs does not matter.
"""
import argparse
import glob
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sung_ref as R  # noqa: E402


def load(path):
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float64) / 255).permute(2, 0, 1)


def reference(weights, data, iters):
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = R.load_weights(weights, dtype=torch.float64)
    blurs = sorted(glob.glob(os.path.join(data, "*", "blur", "*.png")))
    if not blurs:
        sys.exit(f"grad_full.py: {data}: no SEQ/blur/*.png")
    B = torch.stack([load(f) for f in blurs])
    S = torch.stack([load(f.replace(os.sep + "blur" + os.sep, os.sep + "sharp" + os.sep)) for f in blurs])
    t = time.time()
    total, terms, *_ = R.train_loss(model, B, S, iters)
    total.backward()
    print("reference: %d pairs, loss %.6f (pixel %.6f, edge-aux %.6f, edge-sup %.6f), %.0f s"
          % (len(blurs), total.item(), *terms.sum(0), time.time() - t))
    return {k: v.grad.numpy() for k, v in model.named_parameters()}


def compare(o):
    if o.ref and os.path.exists(o.ref):
        ref = dict(np.load(o.ref))
    else:
        ref = reference(o.weights, o.data, o.iters)
        if o.ref:
            np.savez(o.ref, **ref)
    names = sorted(ref)
    whole = np.concatenate([ref[k].ravel() for k in names])
    for path in o.grads:
        g, _ = R.st_read(path)
        if sorted(g) != names:
            sys.exit(f"grad_full.py: {path}: not the gradients of the reference's parameters")
        per = {k: np.linalg.norm(g[k].astype(np.float64) - ref[k]) / np.linalg.norm(ref[k])
               for k in names if np.linalg.norm(ref[k]) > 0}
        x = np.concatenate([g[k].ravel() for k in names]).astype(np.float64)
        worst = max(per, key=per.get)
        print("%s: relative L2 %.3e over all parameters; per tensor median %.2e, largest %.2e (%s)"
              % (path, np.linalg.norm(x - whole) / np.linalg.norm(whole), np.median(list(per.values())),
                 per[worst], worst))


def perturb(o):
    t, meta = R.st_read(o.weights)
    rng = np.random.default_rng(o.seed)
    out = {k: ((v.astype(np.float64) * (1 + o.rel * rng.uniform(-1, 1, v.shape))).astype(np.float32), "F32")
           for k, v in t.items()}
    R.st_write(o.out, out, dict(meta))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("perturb")
    p.add_argument("weights")
    p.add_argument("out")
    p.add_argument("--rel", type=float, default=2.0 ** -9)
    p.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("compare")
    c.add_argument("weights")
    c.add_argument("data")
    c.add_argument("grads", nargs="+")
    c.add_argument("--iters", type=int, default=4)
    c.add_argument("--ref")
    o = ap.parse_args()
    perturb(o) if o.cmd == "perturb" else compare(o)


if __name__ == "__main__":
    main()
