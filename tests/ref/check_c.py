"""Cross-check of the C tool against the PyTorch reference (run by `make golden`).

    /usr/bin/python3 tests/ref/check_c.py [build/sung] [--variant V]... [--width C] [--keep]

(--width 32, the paper's, also exercises what width 8 does not reach, such as the
Winograd convolutions the C engine uses from 64 input channels on.)

For each variant (sung, base, siun):
  (a) init:   `sung init --width 8 --seed 7` loads into the reference with
              load_state_dict(strict=True) and equals the reference's own init bit for bit.
  (b) deblur: an odd-sized photo (chelsea, 211×333) through `sung deblur --iters 4`
              against the reference quantised the same way (clamp, round(255·x)):
              ≥ 99.9 % of pixels (all three channels) within 1/255.
  (c) train:  the two training pairs of tests/golden/<variant>.safetensors as a GoPro
              directory, `sung train --patch 64 --batch 2 --iters 3 --steps 1
              --no-augment --dump-grads`: every gradient tensor within
              ‖g_c − g_ref‖/‖g_ref‖ < 1e-3; the printed loss within 1e-4 (relative) of the
              reference; the Adam step written to RUNDIR/last.safetensors within 1e-6 of the
              reference's for ≥ 99.9 % of all parameters (elements whose gradient is near 0
              may legitimately take the other sign).
The reference runs in float64 on the same float32 weights and inputs. Exits 1 on any
failure, 2 if the tool cannot be run at all.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sung_ref as R  # noqa: E402

WIDTH, SEED, DEBLUR_ITERS, TRAIN_ITERS, LR = 8, 7, 4, 3, 1e-4
GRAD_TOL, KINK_TAU = 1e-3, 3e-5
DT = torch.float64

failures = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        failures.append(what)
    return ok


def run(cmd):
    print("  $ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=1200)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    for line in p.stdout.rstrip().splitlines():
        print("    | " + line)
    return p.returncode, p.stdout


def png_write(path, a):
    from PIL import Image
    Image.fromarray(np.ascontiguousarray(a, np.uint8), "RGB").save(path)


def png_read(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def photo():
    """An odd-sized natural photo, 211×333×3 uint8."""
    from skimage import data
    return data.chelsea()[40:251, 60:393].copy()


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nb = np.linalg.norm(b)
    d = np.linalg.norm(a - b)
    return d / nb if nb > 0 else d


def check_init(tool, variant, tmp):
    W = os.path.join(tmp, "init.safetensors")
    rc, _ = run([tool, "init", "--variant", variant, "--width", str(WIDTH), "--seed", str(SEED),
                 "-o", W])
    if not check(rc == 0 and os.path.exists(W), f"{variant}: sung init ran (exit {rc})"):
        return None
    t, meta = R.st_read(W, raw=True)
    check(meta.get("variant") == variant and meta.get("width") == str(WIDTH),
          f"{variant}: metadata variant/width = {meta.get('variant')!r}/{meta.get('width')!r}")
    ref = R.SUNG(variant, WIDTH, seed=SEED)
    sd = ref.state_dict()
    missing, extra = sorted(set(sd) - set(t)), sorted(set(t) - set(sd))
    if not check(not missing and not extra,
                 f"{variant}: tensor names match the reference ({len(t)} in the file, {len(sd)} expected)"
                 + (f"; missing {missing[:5]}" if missing else "") + (f"; extra {extra[:5]}" if extra else "")):
        return None
    bad_dtype = [k for k, v in t.items() if v.dtype != np.float32]
    check(not bad_dtype, f"{variant}: all tensors F32" + (f" (not: {bad_dtype[:3]})" if bad_dtype else ""))
    m = R.SUNG(variant, WIDTH, seed=0)
    try:
        m.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in t.items()}, strict=True)
    except RuntimeError as e:
        check(False, f"{variant}: load_state_dict(strict=True): {e}")
        return None
    diff = [k for k in sd if not np.array_equal(sd[k].numpy().view(np.uint32),
                                                m.state_dict()[k].numpy().view(np.uint32))]
    check(not diff, f"{variant}: init seed {SEED} bit-identical to the reference"
          + (f" ({len(diff)} tensors differ, e.g. {diff[:3]})" if diff else ""))
    return W, m


def check_deblur(tool, variant, tmp, W, model):
    img = photo()
    src, dst = os.path.join(tmp, "in.png"), os.path.join(tmp, "out.png")
    png_write(src, img)
    rc, _ = run([tool, "deblur", "--model", W, "--iters", str(DEBLUR_ITERS), src, "-o", dst])
    if not check(rc == 0 and os.path.exists(dst), f"{variant}: sung deblur ran (exit {rc})"):
        return
    c = png_read(dst).astype(np.int32)
    if not check(c.shape == img.shape, f"{variant}: deblur output shape {c.shape} == {img.shape}"):
        return
    x = torch.from_numpy(R.from_u8(img).transpose(2, 0, 1)[None].copy()).to(DT)
    out, _ = R.infer(model.to(DT), x, DEBLUR_ITERS)
    ref = R.to_u8(out[0].numpy().transpose(1, 2, 0)).astype(np.int32)
    d = np.abs(c - ref)
    frac_px = float(np.mean(d.max(-1) <= 1))
    frac_v = float(np.mean(d <= 1))
    check(frac_px >= 0.999,
          f"{variant}: deblur {img.shape[1]}x{img.shape[0]}: {100 * frac_px:.3f} % of pixels "
          f"({100 * frac_v:.3f} % of values) within 1/255 (need 99.9 %), max diff {d.max()}/255, "
          f"mean |diff| {d.mean():.4f}/255")


def golden_pairs(variant):
    path = os.path.join(HERE, "..", "golden", f"{variant}.safetensors")
    if os.path.exists(path):
        t, _ = R.st_read(path)
        return t["train.blur"], t["train.sharp"], "tests/golden"
    import make_golden
    b, s = make_golden.synthetic_pairs()
    return b, s, "make_golden.synthetic_pairs()"


def check_train(tool, variant, tmp, W):
    blur, sharp, src = golden_pairs(variant)
    data = os.path.join(tmp, "data")
    for sub in ("blur", "sharp"):
        os.makedirs(os.path.join(data, "seq", sub))
    for k in range(blur.shape[0]):
        png_write(os.path.join(data, "seq", "blur", f"{k:03d}.png"), R.to_u8(blur[k].transpose(1, 2, 0)))
        png_write(os.path.join(data, "seq", "sharp", f"{k:03d}.png"), R.to_u8(sharp[k].transpose(1, 2, 0)))
    # what the C tool reads back: k / 255.0f
    rb = np.stack([R.from_u8(png_read(os.path.join(data, "seq", "blur", f"{k:03d}.png"))).transpose(2, 0, 1)
                   for k in range(blur.shape[0])])
    rs = np.stack([R.from_u8(png_read(os.path.join(data, "seq", "sharp", f"{k:03d}.png"))).transpose(2, 0, 1)
                   for k in range(blur.shape[0])])
    check(np.array_equal(rb, blur) and np.array_equal(rs, sharp),
          f"{variant}: training pairs ({src}) survive the PNG round trip exactly")
    run_dir, G = os.path.join(tmp, "run"), os.path.join(tmp, "g.safetensors")
    P = blur.shape[-1]
    rc, log = run([tool, "train", "--data", data, "--model", W, "--out", run_dir, "--patch", str(P),
                   "--batch", str(blur.shape[0]), "--iters", str(TRAIN_ITERS), "--steps", "1",
                   "--no-augment", "--lr", repr(LR), "--dump-grads", G])
    if not check(rc == 0 and os.path.exists(G), f"{variant}: sung train ran (exit {rc})"):
        return
    gc, _ = R.st_read(G)
    model = R.load_weights(W, DT)
    p0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.zero_grad()
    total, terms, _, _, _ = R.train_loss(model, torch.from_numpy(rb).to(DT), torch.from_numpy(rs).to(DT),
                                         TRAIN_ITERS)
    total.backward()
    names = [k for k, _ in model.named_parameters()]
    missing = [k for k in names if k not in gc]
    if not check(not missing, f"{variant}: gradient file has every parameter"
                 + (f" (missing {len(missing)}, e.g. {missing[:3]})" if missing else "")):
        return
    bad_shape = [k for k, p in model.named_parameters() if gc[k].shape != tuple(p.shape)]
    if not check(not bad_shape, f"{variant}: gradient shapes match" + (f" (not: {bad_shape[:3]})" if bad_shape else "")):
        return
    g = {k: p.grad.detach().numpy().copy() for k, p in model.named_parameters()}
    errs = sorted(((rel_err(gc[k], g[k]), k) for k in names), reverse=True)
    nbad = sum(e >= GRAD_TOL for e, _ in errs)
    print(f"  info  {variant}: gradient relative errors, worst first:")
    for e, k in errs[:5]:
        print(f"          {e:.3g}  {k}")
    if nbad == 0:
        check(True, f"{variant}: gradients of {len(errs)} tensors within {GRAD_TOL:g} relative "
              f"(worst {errs[0][0]:.3g})")
    else:
        # Over the tolerance: see whether the engine merely took the other branch of a
        # kink (a ReLU input or |·| argument within float32 noise of 0) somewhere.
        print(f"  info  {variant}: {nbad} tensors over {GRAD_TOL:g}; fitting kink flips "
              f"(tau {KINK_TAU:g}) ...")
        model.zero_grad()
        g64, sites, _, _ = R.kink_sites(model, torch.from_numpy(rb).to(DT), torch.from_numpy(rs).to(DT),
                                     TRAIN_ITERS, tau=KINK_TAU)
        diff = {k: gc[k].astype(np.float64) - g64[k] for k in names}
        c, _ = R.explain_by_flips(diff, g64, sites)
        use = [st for st in sites if st["delta"] is not None]
        flips = [j for j in range(len(use)) if round(c[j]) == 1]
        res = {k: diff[k].copy() for k in names}
        for j in flips:
            for k, d in use[j]["delta"].items():
                res[k] -= d.astype(np.float64).reshape(res[k].shape)
        rerrs = sorted(((np.linalg.norm(res[k]) / max(np.linalg.norm(g64[k]), 1e-30), k) for k in names),
                       reverse=True)
        for j in flips:
            print(f"          flip at {use[j]['kind']} {use[j]['shape']} element {use[j]['index']}: "
                  f"|x| = {use[j]['ratio']:.2f} of the threshold, fitted coefficient {c[j]:.3f}")
        check(rerrs[0][0] < GRAD_TOL,
              f"{variant}: gradients of {len(errs)} tensors within {GRAD_TOL:g} relative after "
              f"{len(flips)} kink flip(s) of {len(sites)} candidate sites (worst before "
              f"{errs[0][0]:.3g} in {errs[0][1]}, after {rerrs[0][0]:.3g} in {rerrs[0][1]})")
    m = re.search(r"loss\s+([0-9.eE+-]+)", log or "")
    if m:
        lc = float(m.group(1))
        check(abs(lc - total.item()) <= 1e-4 * abs(total.item()) + 1e-5,
              f"{variant}: loss {lc} vs reference {total.item():.6f}")
    else:
        print(f"  note  {variant}: no 'loss X' in the train output; loss not compared")
    # One Adam step: torch.optim.Adam (float64) applied to the engine's own gradients must
    # give the engine's new weights, to 1e-3 of a step plus one float32 ulp.
    last = os.path.join(run_dir, "last.safetensors")
    if not check(os.path.exists(last), f"{variant}: {last} written"):
        return
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(p0[k])
            p.grad = torch.from_numpy(gc[k].astype(np.float64))
    opt = R.make_adam(model, LR)
    opt.step()
    wc, _ = R.st_read(last)
    nbad, worst = 0, (0.0, "")
    for k, p in model.named_parameters():
        want = p.detach().numpy()
        got = wc[k].astype(np.float64)
        tol = 1e-3 * LR + np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        e = np.abs(got - want)
        nbad += int(np.sum(e > tol))
        worst = max(worst, (float((e / tol).max()), k))
    check(nbad == 0, f"{variant}: Adam step of the engine's gradients matches torch.optim.Adam "
          f"({nbad} elements off; worst {worst[0]:.2f} of the tolerance in {worst[1]})")


def main():
    global GRAD_TOL, WIDTH
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tool", nargs="?", default="build/sung")
    ap.add_argument("--variant", action="append", choices=R.VARIANTS)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--width", type=int, default=WIDTH, help=f"model width (default {WIDTH})")
    ap.add_argument("--grad-tol", type=float, default=GRAD_TOL,
                    help=f"relative gradient tolerance per tensor (default {GRAD_TOL:g})")
    a = ap.parse_args()
    GRAD_TOL = a.grad_tol
    WIDTH = a.width
    tool = os.path.abspath(a.tool)
    if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
        print(f"FAIL: {a.tool} is not an executable (build it with make)")
        return 2
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    tmp = tempfile.mkdtemp(prefix="sung_check_")
    try:
        for v in a.variant or R.VARIANTS:
            print(f"== {v}")
            d = os.path.join(tmp, v)
            os.makedirs(d)
            r = check_init(tool, v, d)
            if r is None:
                continue
            W, model = r
            check_deblur(tool, v, d, W, model)
            check_train(tool, v, d, W)
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"FAIL: {len(failures)} check(s) failed:")
        for f in failures:
            print("  - " + f)
        return 1
    print("PASS: the C tool agrees with the PyTorch reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
