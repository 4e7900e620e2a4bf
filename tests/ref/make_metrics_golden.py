"""Writes tests/golden/metrics.safetensors, the golden of tests/test_metrics.c (SPEC §8).

    /usr/bin/python3 tests/ref/make_metrics_golden.py [OUT]   (default tests/golden/metrics.safetensors)

Deterministic (fixed seeds, skimage.data photos). For each case <k> (the names are listed,
comma-separated, in the metadata key "cases"):

  a.<k>, b.<k>        U8 [h, w, 3]  an 8-bit RGB pair: crops of skimage.data's astronaut,
                                    chelsea and coffee of odd and even sizes, b a distorted
                                    a (blur, noise, 8×8 DCT quantisation, shift, motion
                                    blur), plus an identical pair, a constant pair, a
                                    black/white pair with negative SSIM, and sizes below
                                    skimage's minimum
  psnr.<k>            F64 [1]  skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255)
                               (= MATLAB psnr; +inf for identical images)
  ssim_skimage.<k>    F64 [1]  skimage.metrics.structural_similarity(a, b, channel_axis=2,
                               gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=255); NaN where
                               skimage refuses the size (a side < 11)
  ssim_matlab.<k>     F64 [1]  ssim_matlab() below: SPEC §8's MATLAB definition, written
                               here with scipy (separable 11-tap correlation along H, W and
                               C, mode 'nearest' = replicate), and checked on the small
                               cases against a brute-force 11×11×11 window on an
                               edge-padded volume.
"""
import json
import os
import struct
import sys

import numpy as np
from scipy import fft, ndimage
import skimage
from skimage import data, metrics

L, K1, K2, SIGMA, R = 255.0, 0.01, 0.03, 1.5, 5
C1, C2 = (K1 * L) ** 2, (K2 * L) ** 2


def gauss11():
    """The normalised 1-D Gaussian of SPEC §8: σ 1.5, radius 5, 11 taps."""
    x = np.arange(-R, R + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * SIGMA * SIGMA))
    g /= g.sum()
    assert g.size == 11 and abs(g.sum() - 1) < 1e-15 and np.all(g == g[::-1])
    return g


G = gauss11()


def ssim_from_stats(mux, muy, exx, eyy, exy):
    sx2, sy2, sxy = exx - mux * mux, eyy - muy * muy, exy - mux * muy
    return ((2 * mux * muy + C1) * (2 * sxy + C2)) / ((mux * mux + muy * muy + C1) * (sx2 + sy2 + C2))


def ssim_matlab(a, b):
    """MATLAB ssim(A, B) of an H×W×3 uint8 volume as SPEC §8 states it: one Gaussian
    window, separable along height, width and channel, replicate padding of 5 on every
    axis, population statistics, mean of the whole H×W×3 map."""
    def filt(v):
        for ax in range(3):
            v = ndimage.correlate1d(v, G, axis=ax, mode="nearest")
        return v
    x, y = a.astype(np.float64), b.astype(np.float64)
    m = ssim_from_stats(filt(x), filt(y), filt(x * x), filt(y * y), filt(x * y))
    return float(m.mean())


def ssim_matlab_brute(a, b):
    """The same from an explicit 11×11×11 kernel on np.pad(mode='edge') volumes."""
    k3 = G[:, None, None] * G[None, :, None] * G[None, None, :]
    assert k3.shape == (11, 11, 11) and abs(k3.sum() - 1) < 1e-14

    def filt(v):
        w = np.lib.stride_tricks.sliding_window_view(np.pad(v, R, mode="edge"), (11, 11, 11))
        return np.einsum("hwcijk,ijk->hwc", w, k3)
    x, y = a.astype(np.float64), b.astype(np.float64)
    return float(ssim_from_stats(filt(x), filt(y), filt(x * x), filt(y * y), filt(x * y)).mean())


def ssim_skimage(a, b):
    try:
        return float(metrics.structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                                   use_sample_covariance=False, data_range=255))
    except ValueError:  # "win_size exceeds image extent"
        return float("nan")


def psnr(a, b):
    with np.errstate(divide="ignore"):
        p = float(metrics.peak_signal_noise_ratio(a, b, data_range=255))
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    own = np.inf if mse == 0 else 10 * np.log10(L * L / mse)
    assert p == own or abs(p - own) < 1e-12, (p, own)
    return p


def u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def blur(img, sigma):
    return u8(ndimage.gaussian_filter(img.astype(np.float64), (sigma, sigma, 0), mode="reflect"))


def noise(img, sd, rng):
    return u8(img.astype(np.float64) + rng.normal(0, sd, img.shape))


JPEG_Q = np.array([[16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
                   [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
                   [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
                   [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], np.float64)


def dct_quantise(img, scale=2.0):
    """JPEG-like: per channel, 8×8 blocks of orthonormal DCT-II coefficients rounded to
    multiples of scale·(the JPEG luminance table)."""
    h, w, _ = img.shape
    assert h % 8 == 0 and w % 8 == 0
    out = np.empty(img.shape, np.float64)
    q = scale * JPEG_Q
    for c in range(3):
        for y in range(0, h, 8):
            for x in range(0, w, 8):
                blk = img[y:y + 8, x:x + 8, c].astype(np.float64) - 128
                d = fft.dctn(blk, norm="ortho")
                out[y:y + 8, x:x + 8, c] = fft.idctn(np.rint(d / q) * q, norm="ortho") + 128
    return u8(out)


def motion_blur(img, length=9):
    k = np.zeros((length, length))
    for i in range(length):  # a diagonal line, slope 1/2
        k[length // 2 + (i - length // 2) // 2, i] = 1
    k /= k.sum()
    return u8(np.stack([ndimage.convolve(img[..., c].astype(np.float64), k, mode="reflect")
                        for c in range(3)], axis=-1))


def cases():
    rng = np.random.RandomState(20240611)
    astro, cat, cof = data.astronaut(), data.chelsea(), data.coffee()
    out = []
    a = astro[100:197, 180:311]                        # 97×131, odd
    out.append(("astro_blur", a, blur(a, 1.2)))
    a = cat[80:200, 150:310]                           # 120×160, even
    out.append(("chelsea_noise", a, noise(a, 8.0, rng)))
    a = cof[150:214, 260:308]                          # 64×48
    out.append(("coffee_dct", a, dct_quantise(a)))
    a = astro[20:140, 300:397]                         # 120×97, shifted by (1, 2)
    out.append(("astro_shift", a, astro[21:141, 302:399]))
    a = cat[30:210, 60:300]                            # 180×240, motion blur + noise
    out.append(("chelsea_motion", a, noise(motion_blur(a), 2.0, rng)))
    a = cof[40:73, 400:447]                            # 33×47, blur + noise
    out.append(("coffee_odd", a, noise(blur(a, 0.8), 4.0, rng)))
    a = astro[300:311, 200:211]                        # 11×11: skimage's smallest
    out.append(("astro_11", a, noise(a, 10.0, rng)))
    a = cof[200:210, 100:111]                          # 10×11: skimage refuses
    out.append(("coffee_10x11", a, noise(a, 10.0, rng)))
    a = cat[100:102, 200:217]                          # 2×17: rows fewer than the radius
    out.append(("chelsea_2x17", a, noise(a, 6.0, rng)))
    a = astro[250:251, 250:251]                        # 1×1
    out.append(("astro_1x1", a, u8(a.astype(np.float64) + np.array([3.0, -7.0, 20.0]))))
    a = cof[300:340, 100:156]                          # identical, 40×56
    out.append(("identical", a, a.copy()))
    out.append(("constant", np.full((24, 32, 3), 100, np.uint8), np.full((24, 32, 3), 120, np.uint8)))
    bw = (rng.rand(23, 29, 3) < 0.5).astype(np.uint8) * 255  # black/white and its inverse
    out.append(("bw_inverse", bw, 255 - bw))
    return out


def write_safetensors(path, tensors, metadata):
    """tensors: {name: numpy array} stored as its own dtype (uint8 -> U8, float64 -> F64).
    Header: sorted keys, padded with spaces to a multiple of 8; data in key order."""
    dtn = {np.dtype("uint8"): "U8", np.dtype("float64"): "F64"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtn[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "golden", "metrics.safetensors")
    tensors, names = {}, []
    print(f"skimage {skimage.__version__}")
    for k, a, b in cases():
        assert a.dtype == np.uint8 and a.shape == b.shape and a.ndim == 3 and a.shape[2] == 3
        p, sk, mt = psnr(a, b), ssim_skimage(a, b), ssim_matlab(a, b)
        assert abs(ssim_matlab(b, a) - mt) < 1e-15
        if a.shape[0] * a.shape[1] <= 5000:
            bf = ssim_matlab_brute(a, b)
            assert abs(bf - mt) < 1e-12, (k, bf, mt)
        names.append(k)
        tensors[f"a.{k}"], tensors[f"b.{k}"] = a, b
        tensors[f"psnr.{k}"] = np.array([p])
        tensors[f"ssim_skimage.{k}"] = np.array([sk])
        tensors[f"ssim_matlab.{k}"] = np.array([mt])
        print(f"{k:16s} {a.shape[0]:4d}×{a.shape[1]:<4d} psnr {p:9.5f}  ssim matlab {mt:.8f}  skimage {sk:.8f}")
    write_safetensors(path, tensors, {"cases": ",".join(names), "skimage": skimage.__version__})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
