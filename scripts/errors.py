#!/usr/bin/python3
"""scripts/errors.py [--edges P] DATA OUT [OUT2 ...]

Where a model's error lies, per frame of a `sung synth` set: DATA is the set (its
SEQ/blur and SEQ/sharp frames), each OUT the deblurred frames of one model as
`sung eval --data DATA --save OUT` writes them (OUT/SEQ/blur/*.png). For the blurred
input and each model it prints, in 8-bit levels and dB against the sharp frame: the mean
error per channel (R G B; the brightness the blur or the model added), the PSNR, the PSNR
with that mean removed (how much of the error is a global shift of brightness), the PSNR
after the best tone curve per channel (a cubic of the value, fitted to the sharp frame by
least squares on the frame itself: a bound on what any global correction of tone or
colour could add), and the PSNR over the frame's edge pixels (the P % with the largest
gradient of the sharp frame, default 10) and over its flat half. Then the means over the
frames, and the correlation between the blur's brightening and each model's mean error.
Needs numpy, scipy and PIL (Debian: python3-numpy, python3-scipy, python3-pil); a
development tool, not used by sung.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image
from scipy.ndimage import sobel


def load(path):
    """an 8-bit RGB frame as float64 levels (0 … 255), H×W×3"""
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'), dtype=np.float64)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def frames(data):
    """SEQ/NAME of every sharp frame of the set that has a blurred twin"""
    out = []
    for s in sorted(os.listdir(data)):
        sd, bd = os.path.join(data, s, 'sharp'), os.path.join(data, s, 'blur')
        if os.path.isdir(sd) and os.path.isdir(bd):
            out += [f'{s}/{f}' for f in sorted(os.listdir(sd)) if os.path.isfile(os.path.join(bd, f))]
    return out


def toned(x, sharp):
    """x after each channel's least-squares cubic tone curve towards sharp"""
    out = np.empty_like(x)
    for c in range(3):
        v = x[..., c].ravel() / 255
        basis = np.stack([np.ones_like(v), v, v * v, v * v * v], 1)
        coef = np.linalg.lstsq(basis, sharp[..., c].ravel(), rcond=None)[0]
        out[..., c] = (basis @ coef).reshape(x.shape[:2])
    return out


def scores(x, sharp, edges, flat):
    """mean error per channel, PSNR, PSNR without that mean, with a tone curve, on edges
    and on flat"""
    bias = (x - sharp).reshape(-1, 3).mean(0)
    return (bias, psnr(x, sharp), psnr(x - bias, sharp), psnr(toned(x, sharp), sharp), psnr(x[edges], sharp[edges]),
            psnr(x[flat], sharp[flat]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[1].replace('\n', ' '))
    ap.add_argument('--edges', type=float, default=10, help='share of pixels counted as edges, in %%')
    ap.add_argument('data')
    ap.add_argument('outs', nargs='+')
    o = ap.parse_args()
    if not 0 < o.edges < 50:
        sys.exit('errors.py: --edges must be between 0 and 50 (%)')
    for d in [o.data] + o.outs:
        if not os.path.isdir(d):
            sys.exit(f'errors.py: {d}: not a folder')
    names = frames(o.data)
    if not names:
        sys.exit(f'errors.py: {o.data}: no SEQ/sharp and SEQ/blur frames (a sung synth set)')
    cols = ['blurred'] + [os.path.basename(os.path.normpath(p)) for p in o.outs]
    print('frame, then for ' + ', '.join(cols) + ': mean error R G B (levels) | PSNR | without the mean | '
          'with a tone curve | edges | flat (dB)')
    rows = []
    for n in names:
        seq, f = n.split('/')
        sharp = load(os.path.join(o.data, seq, 'sharp', f))
        xs = [load(os.path.join(o.data, seq, 'blur', f))]
        for p in o.outs:
            q = os.path.join(p, seq, 'blur', f)
            if not os.path.isfile(q):
                sys.exit(f'errors.py: {q}: missing (sung eval --data {o.data} --save {p} writes it)')
            xs.append(load(q))
        if any(x.shape != sharp.shape for x in xs):
            sys.exit(f'errors.py: {n}: the frames differ in size')
        g = sharp.mean(2)
        g = np.hypot(sobel(g, 0), sobel(g, 1))
        edges = g >= np.percentile(g, 100 - o.edges)
        flat = g < np.percentile(g, 50)
        r = [scores(x, sharp, edges, flat) for x in xs]
        rows.append(r)
        print(n)
        for c, (b, p, pb, pt, pe, pf) in zip(cols, r):
            print(f'  {c:<24} {b[0]:+6.2f} {b[1]:+6.2f} {b[2]:+6.2f} | {p:6.2f} | {pb:6.2f} | {pt:6.2f} | {pe:6.2f} | '
                  f'{pf:6.2f}')
    print(f'mean over {len(rows)} frames:')
    for i, c in enumerate(cols):
        b = np.mean([r[i][0].mean() for r in rows])
        m = [np.mean([r[i][k] for r in rows]) for k in range(1, 6)]
        print(f'  {c:<24} mean error {b:+.2f} levels | PSNR {m[0]:.3f} | without the mean {m[1]:.3f} '
              f'(+{m[1] - m[0]:.3f}) | with a tone curve {m[2]:.3f} (+{m[2] - m[0]:.3f}) | edges {m[3]:.3f} | '
              f'flat {m[4]:.3f}')
    bright = np.array([r[0][0].mean() for r in rows])
    for i, c in enumerate(cols[1:], 1):
        if len(rows) > 2 and bright.std() > 0:
            err = np.array([r[i][0].mean() for r in rows])
            print(f'  correlation of the blur\'s brightening with {c}\'s mean error: {np.corrcoef(bright, err)[0, 1]:.2f}')


if __name__ == '__main__':
    main()
