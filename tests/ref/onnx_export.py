"""Exports the reference model (sung_ref.py) to ONNX for the ONNX Runtime side of
`make bench` (bench/compare.py, bench/ort_bench.js):

    /usr/bin/python3 tests/ref/onnx_export.py --weights W --size HxW --iters 4 --out DIR

The graph is sung_ref.infer at one fixed size, the scale loop unrolled (torch.onnx.export
traces it): reflect padding to a multiple of 2^(iters+2) (ONNX Pad, mode reflect, the same
whole-sample reflection as numpy's), the pyramid, the 4 scales, the crop and the clamp;
opset 17, float32. Writes into DIR:

  sung_HxW.onnx   the model: input "blur" [1,3,H,W] in [0,1] → output "sharp" [1,3,H,W]
  in_HxW.png      the check image (synthetic, 8-bit, so that C reads the same values)
  in_HxW.f32      the same image as raw float32 NCHW
  torch_HxW.f32   PyTorch's output on it (sung_ref.infer), raw float32 NCHW

Without --weights the model is the freshly initialised one (seed 0). Prints one JSON line.
"""
import argparse
import json
import os
import struct
import sys
import time
import warnings
import zlib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sung_ref as R  # noqa: E402


def reduce_fixed(B):
    """sung_ref.reduce with the sizes as Python ints: under tracing B.shape holds tensors,
    which numpy cannot index with; the sizes are fixed per export anyway."""
    N, C, H, W = (int(v) for v in B.shape)
    t = R.gauss_taps(B.dtype)
    x = B.reshape(N * C, 1, H, W)
    x = x.index_select(2, R.symmetric_index(H, R.RADIUS))
    x = F.conv2d(x, t.view(1, 1, -1, 1))
    x = x.index_select(3, R.symmetric_index(W, R.RADIUS))
    x = F.conv2d(x, t.view(1, 1, 1, -1))
    x = F.avg_pool2d(x, 2)
    return x.reshape(N, C, H // 2, W // 2)


class Infer(torch.nn.Module):
    """sung_ref.infer as one traceable module at a fixed size."""

    def __init__(self, model, h, w, iters):
        super().__init__()
        self.model, self.iters = model, iters
        m = 1 << (iters + 2)
        self.pad = R.pad_amounts(h, m), R.pad_amounts(w, m)
        self.h, self.w = h, w

    def forward(self, img):
        (top, bottom), (left, right) = self.pad
        x = F.pad(img, (left, right, top, bottom), mode="reflect")
        S, _, _ = R.forward_scales(self.model, R.pyramid(x, self.iters), self.iters)
        return S[0][:, :, top:top + self.h, left:left + self.w].clamp(0, 1)


def check_image(h, w):
    """A deterministic picture with edges, gradients and texture, 8-bit levels [3,H,W]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 0.5 + 0.4 * np.sin(x / 23.0) * np.cos(y / 31.0)
    g = ((x // 40 + y // 40) % 2) * 0.6 + 0.2
    b = np.clip((x + 2 * y) / (w + 2 * h) + 0.1 * np.sin(x * y / 500.0), 0, 1)
    return np.rint(np.stack([r, g, b]) * 255).astype(np.uint8)


def write_png(path, a):
    """a [3,H,W] uint8 → RGB PNG (no extra dependency)."""
    h, w = a.shape[1:]
    raw = b"".join(b"\0" + a[:, y].T.tobytes() for y in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description="export the reference model to ONNX")
    ap.add_argument("--weights", help="safetensors weights (default: fresh, seed 0)")
    ap.add_argument("--variant", default="sung", choices=R.VARIANTS)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--size", default="512x512", help="HxW")
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.lower().split("x"))
    model = R.load_weights(a.weights) if a.weights else R.SUNG(a.variant, a.width, seed=0)
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    tag = f"{h}x{w}"
    img8 = check_image(h, w)
    write_png(os.path.join(a.out, f"in_{tag}.png"), img8)
    img = torch.from_numpy(R.from_u8(img8)[None])
    img.numpy().tofile(os.path.join(a.out, f"in_{tag}.f32"))
    R.reduce = reduce_fixed  # the pyramid calls it by its module name
    net = Infer(model, h, w, a.iters)
    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # the fixed sizes, meant
    with torch.no_grad():
        ref = net(img)
        ref.numpy().astype(np.float32).tofile(os.path.join(a.out, f"torch_{tag}.f32"))
        path = os.path.join(a.out, f"sung_{tag}.onnx")
        torch.onnx.export(net, (img,), path, input_names=["blur"], output_names=["sharp"], opset_version=17,
                          do_constant_folding=True)
    print(json.dumps({"onnx": path, "size": tag, "iters": a.iters, "weights": a.weights or "fresh (seed 0)",
                      "torch": torch.__version__, "opset": 17, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
