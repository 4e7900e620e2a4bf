"""Writes the goldens the C tests compare against (tests/golden/*.safetensors).

    /usr/bin/python3 tests/ref/make_golden.py [OUTDIR]      (default tests/golden)

Deterministic: the same bytes on every run (one thread, fixed seeds, inputs generated
here). The reference runs in float64 from the float32 initial weights and float32 inputs
(exact casts), and every result is stored rounded to float32: the goldens are the exact
answers for those weights and inputs, so a float32 engine is compared with the truth,
not with another float32 rounding of it.

<variant>.safetensors (sung, base, siun; width 8, seed 1), NCHW:
  init.check.<param>  F32 [4]   sum, sum of squares (float64), first and last element
  train.blur, train.sharp [2,3,64,64]  synthetic pair, values k/255 (8-bit levels)
  train.S.<i>, train.F.<i>, train.G.<i>  i = 0..2, first step's forward, I = 3 (no G: siun)
  train.loss  F32 [3,3]  row i = scale i: pixel, edge_aux, edge_sup (unweighted; as the C
                         engine reports them: edge_aux only for sung (0 for base, siun),
                         edge_sup wherever there is a G (sung, base; 0 for siun))
  train.total F32 [1]    Σ_i pixel + w_aux·edge_aux + w_sup·edge_sup (1, 1 sung; 0, 0 else)
  grad.<param>           gradient of train.total
  kink.<param> F32 [1]   Σ over near-kink elements (ReLU inputs and |·| arguments with
                         0 < |x| < 3e-5·rms) of ‖change of grad.<param> if that element took
                         the other branch‖: a float32 engine may flip a few of them, so
                         accept ‖g − grad‖ ≤ 1e-3·‖grad‖ + kink (sung_ref.kink_sites)
  kinkfit.<param> F32 [S] for each of the S near-kink elements (the same order in every
                         tensor), ⟨δgrad, grad⟩ / ‖grad‖²: what its flip does to the scale
                         ⟨g − grad, grad⟩/‖grad‖² of this tensor's gradient. The test fits
                         the scale errors of all tensors by flips of these elements and
                         holds each tensor to 1e-3 after the fit: a flip moves many tensors
                         together, a gradient 1 % off in one tensor moves one.
  adam3.delta.<param> F16  (parameter after 3 Adam steps on that batch) − (initial), lr 1e-4
  infer.input [1,3,37,45]  natural photo crop, values k/255
  infer.S.<i>  i = 0..4  the padded 64×64 run with I = 4 (S_4 = B_4), unclamped
  infer.output [1,3,37,45] cropped, clamped to [0, 1]
pyramid.safetensors:
  pyr.input [1,3,48,64], pyr.level.<k> k = 0..3: skimage.transform.pyramid_gaussian
adam.safetensors (torch.optim.Adam alone, free of the gradient's float32 noise):
  adam.p.0 [1024] initial values, adam.g.<t> [1024] the gradient given at step t = 1..5,
  adam.p.<t> the values after step t (lr 1e-4, β 0.9/0.999, ε 1e-8). Gradients span
  1e-12..1 in magnitude (some near ε), with exact zeros, sign changes and constants.
"""
import os
import sys

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sung_ref as R  # noqa: E402

WIDTH, SEED, TRAIN_ITERS, INFER_ITERS, ADAM_STEPS, LR = 8, 1, 3, 4, 3, 1e-4
KINK_TAU = 3e-5
DT = torch.float64


def u8(x):
    """[0,1] floats -> 8-bit levels, round half to even."""
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def synthetic_pairs(n=2, size=64, seed=1234):
    """n (blur, sharp) pairs [n,3,size,size] float32 k/255: sharp = smooth colour
    gradient + low-frequency shading + random sharp-edged ellipses/rectangles/stripes +
    fine texture; blur = a random linear motion blur (length 5–9, any angle) of it, plus
    Gaussian noise σ = 0.01."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    blurs, sharps = [], []
    for _ in range(n):
        c0, c1 = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / (t.max() - t.min())
        img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
        shade = ndimage.gaussian_filter(rng.randn(size, size), 6, mode="wrap")
        img += 0.1 * shade[..., None] / (np.abs(shade).max() + 1e-12)
        for _ in range(rng.randint(6, 10)):
            col = rng.uniform(0, 1, 3)
            kind = rng.choice(3, p=[0.45, 0.4, 0.15])
            cy, cx = rng.uniform(0, 1, 2)
            if kind == 0:
                ry, rx = rng.uniform(0.05, 0.25, 2)
                m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            elif kind == 1:
                hy, hx = rng.uniform(0.04, 0.2, 2)
                m = (np.abs(yy - cy) <= hy) & (np.abs(xx - cx) <= hx)
            else:
                b = rng.uniform(0, np.pi)
                s = np.cos(b) * (xx - cx) + np.sin(b) * (yy - cy)
                m = (np.abs(s) < 0.25) & (np.mod(s * rng.uniform(4, 8), 1) < 0.5)
            alpha = rng.uniform(0.6, 1.0)
            img[m] = alpha * col + (1 - alpha) * img[m]
        tex = ndimage.gaussian_filter(rng.randn(size, size, 3), (0.7, 0.7, 0), mode="wrap")
        img += 0.04 * tex
        sharp = u8(img).astype(np.float64) / 255
        # motion kernel: a line of length L at angle th, splatted bilinearly on 11×11
        L, th = rng.uniform(5, 9), rng.uniform(0, np.pi)
        k = np.zeros((11, 11))
        for s in np.linspace(-L / 2, L / 2, 64):
            y, x = 5 + s * np.sin(th), 5 + s * np.cos(th)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            fy, fx = y - y0, x - x0
            k[y0, x0] += (1 - fy) * (1 - fx)
            k[y0, x0 + 1] += (1 - fy) * fx
            k[y0 + 1, x0] += fy * (1 - fx)
            k[y0 + 1, x0 + 1] += fy * fx
        k /= k.sum()
        blur = np.stack([ndimage.convolve(sharp[..., ch], k, mode="reflect") for ch in range(3)], -1)
        blur += rng.randn(*blur.shape) * 0.01
        blurs.append(R.from_u8(u8(blur)).transpose(2, 0, 1))
        sharps.append(R.from_u8(u8(sharp)).transpose(2, 0, 1))
    return np.stack(blurs), np.stack(sharps)


def block_mean(a, f):
    h, w = a.shape[0] // f, a.shape[1] // f
    return a[:h * f, :w * f].reshape(h, f, w, f, -1).mean((1, 3))


def infer_input():
    """[1,3,37,45] k/255: chelsea's face, 4×4 block means, quantised."""
    from skimage import data
    a = data.chelsea()[20:20 + 37 * 4, 110:110 + 45 * 4].astype(np.float64) / 255
    return R.from_u8(u8(block_mean(a, 4))).transpose(2, 0, 1)[None].copy()


def pyramid_input():
    """[1,3,48,64] k/255: astronaut's face, 4×4 block means, quantised."""
    from skimage import data
    a = data.astronaut()[40:40 + 192, 120:120 + 256].astype(np.float64) / 255
    return R.from_u8(u8(block_mean(a, 4))).transpose(2, 0, 1)[None].copy()


def f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def variant_golden(variant):
    model = R.SUNG(variant, WIDTH, seed=SEED)
    p0 = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    out = {}
    for k, v in p0.items():
        d = v.astype(np.float64).reshape(-1)
        out["init.check." + k] = np.array([d.sum(), (d * d).sum(), d[0], d[-1]], np.float32)

    blur, sharp = synthetic_pairs()
    out["train.blur"], out["train.sharp"] = blur, sharp
    m64 = model.to(DT)
    b, s = torch.from_numpy(blur).to(DT), torch.from_numpy(sharp).to(DT)
    m64.zero_grad()
    total, terms, S, Fs, Gs = R.train_loss(m64, b, s, TRAIN_ITERS)
    total.backward()
    for i in range(TRAIN_ITERS):
        out[f"train.S.{i}"] = f32(S[i])
        out[f"train.F.{i}"] = f32(Fs[i])
        if Gs[i] is not None:
            out[f"train.G.{i}"] = f32(Gs[i])
    out["train.loss"] = terms.astype(np.float32)
    out["train.total"] = np.array([total.item()], np.float32)
    for k, p in m64.named_parameters():
        out["grad." + k] = f32(p.grad)
    g64, sites, allow, proj = R.kink_sites(m64, b, s, TRAIN_ITERS, tau=KINK_TAU, keep=float("inf"))
    for k, _ in m64.named_parameters():
        assert np.array_equal(g64[k].astype(np.float32), out["grad." + k]), k
        out["kink." + k] = np.array([allow[k]], np.float32)
        out["kinkfit." + k] = np.array([st["proj"].get(k, 0.0) for st in sites] or [0.0], np.float32)
    worst = max((allow[k] / np.linalg.norm(g64[k]), k) for k in g64)
    wproj = max((proj[k], k) for k in g64)
    print(f"  {variant}: {len(sites)} near-kink elements; largest allowance "
          f"{worst[0]:.3g} of ‖grad‖ ({worst[1]}), on the scale {wproj[0]:.3g} ({wproj[1]})")

    opt = R.make_adam(m64, LR)
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        loss = R.train_loss(m64, b, s, TRAIN_ITERS)[0]
        loss.backward()
        opt.step()
    for k, p in m64.named_parameters():
        out["adam3.delta." + k] = (f32(p) - p0[k], "F16")

    # inference uses the initial weights again
    m64 = R.SUNG(variant, WIDTH, seed=SEED).to(DT)
    x = infer_input()
    o, Si = R.infer(m64, torch.from_numpy(x).to(DT), INFER_ITERS)
    assert Si[0].shape[-2:] == (64, 64), Si[0].shape
    out["infer.input"] = x
    for i in range(INFER_ITERS + 1):
        out[f"infer.S.{i}"] = f32(Si[i])
    out["infer.output"] = f32(o)
    meta = {"variant": variant, "width": str(WIDTH), "seed": str(SEED),
            "train_iters": str(TRAIN_ITERS), "infer_iters": str(INFER_ITERS),
            "adam_steps": str(ADAM_STEPS), "lr": repr(LR),
            "w_aux": repr(R.default_weights(variant)[0]),
            "w_sup": repr(R.default_weights(variant)[1]),
            "precision": "float64 reference, stored rounded", "kink_tau": repr(KINK_TAU)}
    return out, meta, total.item(), terms


def pyramid_golden():
    from skimage.transform import pyramid_gaussian
    x = pyramid_input()
    img = x[0].transpose(1, 2, 0).astype(np.float64)
    levels = list(pyramid_gaussian(img, max_layer=3, downscale=2, channel_axis=-1))
    assert len(levels) == 4
    out = {"pyr.input": x}
    for k, lv in enumerate(levels):
        out[f"pyr.level.{k}"] = lv.transpose(2, 0, 1)[None].astype(np.float32)
    # torch reduce against skimage, in float32 (as an engine runs) and float64
    for dt, tol in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        got = R.pyramid(torch.from_numpy(x).to(dt), 3)
        for k, lv in enumerate(levels):
            err = np.abs(got[k][0].numpy().transpose(1, 2, 0).astype(np.float64) - lv).max()
            if not err < tol:
                raise SystemExit(f"FAIL: reduce ({dt}) differs from skimage at level {k} by {err:.3g}")
            print(f"  reduce {str(dt):13s} level {k} {tuple(lv.shape[:2])}: max |diff| {err:.3g}")
    return out


def adam_golden(n=1024, steps=5, seed=99):
    rng = np.random.RandomState(seed)
    p0 = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    scale = 10.0 ** rng.uniform(-12, 0, n)
    scale[: n // 10] = 10.0 ** rng.uniform(-9, -7, n // 10)      # around ε
    g = rng.randn(steps, n) * scale
    g[:, n // 10: n // 5] = np.abs(g[:, n // 10: n // 5])       # constant sign
    g[0, n // 5: n // 5 + 32] = 0                                # zero at first, later not
    g[:, n // 5 + 32: n // 5 + 64] = 0                           # always zero
    g[:, -32:] = g[0, -32:]                                      # constant
    g = g.astype(np.float32)
    p = torch.nn.Parameter(torch.from_numpy(p0).to(DT))
    opt = torch.optim.Adam([p], lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    out = {"adam.p.0": p0}
    for t in range(steps):
        opt.zero_grad()
        p.grad = torch.from_numpy(g[t]).to(DT)
        opt.step()
        out[f"adam.g.{t + 1}"] = g[t]
        out[f"adam.p.{t + 1}"] = f32(p)
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "golden")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    R.self_test()
    path = os.path.join(outdir, "pyramid.safetensors")
    R.st_write(path, pyramid_golden(), {"sigma": "2/3", "radius": "3"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    path = os.path.join(outdir, "adam.safetensors")
    R.st_write(path, adam_golden(), {"lr": repr(LR), "beta1": "0.9", "beta2": "0.999",
                                     "eps": "1e-08", "reference": "torch.optim.Adam, float64"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    for v in R.VARIANTS:
        out, meta, total, terms = variant_golden(v)
        path = os.path.join(outdir, f"{v}.safetensors")
        R.st_write(path, out, meta)
        print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors): "
              f"total loss {total:.6f}, per scale (pixel, aux, sup) {np.round(terms, 6).tolist()}")


if __name__ == "__main__":
    main()
