#!/usr/bin/python3
"""Spatially uniform blur pairs for the learnability test of docs/RESULTS.md ("Blind or
not", chunk 25), in the GoPro layout that `sung train --data` and `sung eval` read.

    uniform-blur-pairs.py fixed  PHOTOS OUT PER SEED   # one horizontal box of 15 px
    uniform-blur-pairs.py linear PHOTOS OUT PER SEED   # a straight line per pair: angle
                                                       # U[0, pi), length log-U[5, 40] px
    uniform-blur-pairs.py wiener DIR NSR               # the oracle: a Wiener filter given
                                                       # the fixed set's kernel; mean gain

Each photo is first shrunk to a longer side of at most 1920 px (area averaging, as
`sung train --photos` does); PER windows of at most 1280x720 (sides multiples of 8; photos
that leave less than 384 px are skipped) are drawn at random places. The blur is a
convolution in linear light (sRGB decoded as x^2.2), centred on the window, with no noise;
the blurred image is rounded to 8 bits. Needs numpy, scipy and PIL (python3-scipy,
python3-pil)."""
import glob
import os
import sys

import numpy as np
from PIL import Image
from scipy.signal import fftconvolve

W, H, R = 1280, 720, 24  # window size; the kernels' radius
BOX = 15                 # the fixed set's box, px


def line_kernel(length, angle):
    """A centred straight line of `length` px, splatted bilinearly, summing to 1."""
    k = np.zeros((2 * R + 1, 2 * R + 1))
    for t in np.linspace(-length / 2, length / 2, 400):
        x, y = R + t * np.cos(angle), R + t * np.sin(angle)
        i, j = int(np.floor(y)), int(np.floor(x))
        a, b = y - i, x - j
        k[i, j] += (1 - a) * (1 - b)
        k[i, j + 1] += (1 - a) * b
        k[i + 1, j] += a * (1 - b)
        k[i + 1, j + 1] += a * b
    return k / k.sum()


def box_kernel(length):
    k = np.zeros((2 * R + 1, 2 * R + 1))
    k[R, R - length // 2:R + length // 2 + 1] = 1.0 / length
    return k


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def wiener(root, nsr):
    """Deconvolves each DIR/*/blur/*.png of a `fixed` set with the box it was made with,
    row by row in linear light (64 px reflected at both ends), and prints the mean PSNR
    gain over the blurred input and the number of images made worse."""
    row = box_kernel(BOX)[R]  # centred at R
    gains = []
    for path in sorted(glob.glob(f'{root}/*/blur/*.png')):
        blur = np.asarray(Image.open(path).convert('RGB'))
        sharp = np.asarray(Image.open(path.replace('/blur/', '/sharp/')).convert('RGB'))
        x = np.pad((blur / 255.0) ** 2.2, ((0, 0), (64, 64), (0, 0)), mode='reflect')
        k = np.zeros(x.shape[1])
        k[:row.size] = row
        f = np.fft.fft(np.roll(k, -R))
        y = np.real(np.fft.ifft(np.fft.fft(x, axis=1) * (np.conj(f) / (np.abs(f) ** 2 + nsr))[None, :, None], axis=1))
        out = np.round(np.clip(y[:, 64:-64], 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
        gains.append(psnr(out, sharp) - psnr(blur, sharp))
    if not gains:
        sys.exit(f'no {root}/*/blur/*.png')
    print(f'Wiener, NSR {nsr:g}: {len(gains)} images, mean gain {np.mean(gains):+.2f} dB, '
          f'{sum(g < 0 for g in gains)} worse')


def main():
    try:
        if len(sys.argv) == 4 and sys.argv[1] == 'wiener':
            return wiener(sys.argv[2], float(sys.argv[3]))
        if len(sys.argv) != 6 or sys.argv[1] not in ('fixed', 'linear'):
            raise ValueError
        kind, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
        per, seed = int(sys.argv[4]), int(sys.argv[5])
    except ValueError:
        sys.exit(__doc__)
    if not os.path.isdir(src):
        sys.exit(f'uniform-blur-pairs.py: {src}: not a folder of photos')
    rng = np.random.default_rng(seed)
    for name in sorted(os.listdir(src)):
        im = Image.open(os.path.join(src, name)).convert('RGB')
        s = 1920 / max(im.size)
        if s < 1:
            im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BOX)
        a = np.asarray(im).astype(np.float64) / 255
        h, w = min(H, (a.shape[0] - 2 * R) // 8 * 8), min(W, (a.shape[1] - 2 * R) // 8 * 8)
        if h < 384 or w < 384:
            print('skipped (too small):', name)
            continue
        stem = os.path.splitext(name)[0]
        os.makedirs(f'{out}/{stem}/blur', exist_ok=True)
        os.makedirs(f'{out}/{stem}/sharp', exist_ok=True)
        for j in range(per):
            y = rng.integers(R, a.shape[0] - h - R + 1)
            x = rng.integers(R, a.shape[1] - w - R + 1)
            if kind == 'fixed':
                k = box_kernel(BOX)
            else:
                k = line_kernel(np.exp(rng.uniform(np.log(5), np.log(40))), rng.uniform(0, np.pi))
            lin = a[y - R:y + h + R, x - R:x + w + R] ** 2.2
            bl = np.stack([fftconvolve(lin[..., c], k, mode='valid') for c in range(3)], -1)
            bl = np.clip(bl, 0, 1) ** (1 / 2.2)
            Image.fromarray(np.round(a[y:y + h, x:x + w] * 255).astype(np.uint8)).save(f'{out}/{stem}/sharp/{j:06d}.png')
            Image.fromarray(np.round(bl * 255).astype(np.uint8)).save(f'{out}/{stem}/blur/{j:06d}.png')


if __name__ == '__main__':
    main()
