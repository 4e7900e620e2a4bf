#!/usr/bin/python3
"""scripts/texture.py [--window N] [--thresholds T,T,...] DIR...

The share of N×N windows (default 384, on a grid of about a third of N) whose texture is
under each threshold, per image and in all: the measure `sung train --photos` filters
its windows by (photos_texture in tools/photos.c: the mean absolute difference of
horizontally and vertically neighbouring values in [0, 1]). DIR is a `sung synth` set
(its SEQ/sharp/*.png frames) or a folder of photos, which are first shrunk to a longer
side of at most 1920 px as `sung train --photos` keeps them. Needs numpy and PIL
(Debian: python3-numpy, python3-pil); a development tool, not used by sung itself.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

EXTS = ('.png', '.jpg', '.jpeg')


def images(d):
    """(name, path) of the images of DIR: a synth set's sharp frames, else its photos"""
    seqs = sorted(s for s in os.listdir(d) if os.path.isdir(os.path.join(d, s, 'sharp')))
    if seqs:
        for s in seqs:
            for f in sorted(os.listdir(os.path.join(d, s, 'sharp'))):
                yield f'{s}/{f}', os.path.join(d, s, 'sharp', f), False
        return
    for f in sorted(os.listdir(d)):
        if f.lower().endswith(EXTS):
            yield f, os.path.join(d, f), True


def windows(a, n):
    """texture of every n×n window on a grid of step about n/3, both ways"""
    h, w = a.shape[:2]
    if h < n or w < n:
        return np.array([])
    ys = np.linspace(0, h - n, max(1, round(3 * (h - n) / n) + 1)).astype(int)
    xs = np.linspace(0, w - n, max(1, round(3 * (w - n) / n) + 1)).astype(int)
    out = []
    for y in ys:
        for x in xs:
            v = a[y:y + n, x:x + n]
            t = np.abs(v[:-1, 1:] - v[:-1, :-1]) + np.abs(v[1:, :-1] - v[:-1, :-1])
            out.append(t.mean())
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[1].replace('\n', ' '))
    ap.add_argument('--window', type=int, default=384)
    ap.add_argument('--thresholds', default='0.012,0.006,0.004')
    ap.add_argument('dirs', nargs='+')
    o = ap.parse_args()
    th = [float(t) for t in o.thresholds.split(',')]
    if o.window < 2 or not th:
        sys.exit('texture.py: --window must be at least 2 and --thresholds not empty')
    for d in o.dirs:
        if not os.path.isdir(d):
            sys.exit(f'texture.py: {d}: not a folder')
    allt = []
    print('image'.ljust(48) + ''.join(f'  <{t:g}'.rjust(9) for t in th) + '  windows')
    for d in o.dirs:
        for name, path, photo in images(d):
            im = Image.open(path).convert('RGB')
            if photo and max(im.size) > 1920:
                s = 1920 / max(im.size)
                im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BILINEAR)
            t = windows(np.asarray(im, dtype=np.float64) / 255, o.window)
            if not len(t):
                print(f'{name[:47]:48}  smaller than the window')
                continue
            allt.append(t)
            print(f'{name[:47]:48}' + ''.join(f'{np.mean(t < x):9.2f}' for x in th) + f'{len(t):9d}')
    if not allt:
        sys.exit('texture.py: no image')
    t = np.concatenate(allt)
    print(f'{"all (share of windows)":48}' + ''.join(f'{np.mean(t < x):9.3f}' for x in th) + f'{len(t):9d}')


if __name__ == '__main__':
    main()
