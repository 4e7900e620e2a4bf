"""PyTorch reference of SUNG (../../../shared/SPEC.md), the twin of the C engine.

Everything here follows SPEC.md section by section; the names of modules and parameters
are those of SPEC §7, so `SUNG(variant, width).state_dict()` has exactly the tensors of a
weights file written by `sung init` / `sung train`.

    model = SUNG("sung", 32)                 # Glorot init, seed 0 (init_weights)
    out, S = infer(model, img_nchw, iters=4)  # SPEC §5: pad, pyramid, scale loop, crop
    total, terms, S, F, G = train_loss(model, blur, sharp, 3, 1.0, 1.0)   # SPEC §6

Run it as a script for the self-test (parameter counts of SPEC §7, the init against a
pure-integer SplitMix64, reduce() against skimage). Use /usr/bin/python3 (Debian's torch).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ("sung", "base", "siun")

# ---- kinks ---------------------------------------------------------------------------------
# Every non-smooth op the gradient flows through (ReLU, |·|) goes through relu() / kabs(), so
# that kink_sites() can find the elements that sit so close to a kink that a float32
# engine may legitimately take the other branch (see kink_sites).

_KINK = None  # a list while kink_sites records: (kind, input, output)


def relu(x):
    y = F.relu(x)
    if _KINK is not None and x.requires_grad:
        _KINK.append(("relu", x, y))
    return y


def kabs(x):
    """|x|; backward sign(x) with sign(0) = 0."""
    y = x.abs()
    if _KINK is not None and x.requires_grad:
        _KINK.append(("abs", x, y))
    return y


# ---- building blocks (SPEC §1) -----------------------------------------------------------


def conv(k, a, b, s=1, bias=True):
    """k×k convolution a→b channels, stride s, zero padding k//2."""
    return nn.Conv2d(a, b, k, stride=s, padding=k // 2, bias=bias)


class ResBlock(nn.Module):
    """x + c2(relu(c1(x))), both conv(3, n→n)."""

    def __init__(self, n):
        super().__init__()
        self.c1 = conv(3, n, n)
        self.c2 = conv(3, n, n)

    def forward(self, x):
        return x + self.c2(relu(self.c1(x)))


class EBlock(nn.Module):
    """res(relu(conv(5, a→n, s)(x))) with res = 3 ResBlock(n)."""

    def __init__(self, a, n, s):
        super().__init__()
        self.conv = conv(5, a, n, s)
        self.res = nn.Sequential(*[ResBlock(n) for _ in range(3)])

    def forward(self, x):
        return self.res(relu(self.conv(x)))


class DBlock(nn.Module):
    """3 ResBlock(2n), then a 5×5 transposed conv 2n→n (stride 2, padding 2, output
    padding 1: exactly twice the size), then ReLU. Weight [2n, n, 5, 5]."""

    def __init__(self, n):
        super().__init__()
        self.res = nn.Sequential(*[ResBlock(2 * n) for _ in range(3)])
        self.up = nn.ConvTranspose2d(2 * n, n, 5, stride=2, padding=2, output_padding=1)

    def forward(self, x):
        return relu(self.up(self.res(x)))


class UNet(nn.Module):
    """Feature U-Net (returns u1, c channels) or image U-Net (tanh(oconv(ores(u1)))/2+0.5)."""

    def __init__(self, a, c, image):
        super().__init__()
        self.image = image
        self.e1 = EBlock(a, c, 1)
        self.e2 = EBlock(c, 2 * c, 2)
        self.e3 = EBlock(2 * c, 4 * c, 2)
        self.d2 = DBlock(2 * c)
        self.d1 = DBlock(c)
        if image:
            self.ores = nn.Sequential(*[ResBlock(c) for _ in range(3)])
            self.oconv = conv(5, c, 3)

    def forward(self, x):
        assert x.shape[-2] % 4 == 0 and x.shape[-1] % 4 == 0, x.shape
        e1 = self.e1(x)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        u2 = self.d2(e3) + e2
        u1 = self.d1(u2) + e1
        if not self.image:
            return u1
        return torch.tanh(self.oconv(self.ores(u1))) / 2 + 0.5


class RDB(nn.Module):
    """Residual dense block, 6 layers of growth c, no biases."""

    def __init__(self, c):
        super().__init__()
        self.dense = nn.ModuleList([conv(3, (1 + j) * c, c, bias=False) for j in range(6)])
        self.fuse = conv(1, 7 * c, c, bias=False)

    def forward(self, x):
        h = x
        for d in self.dense:
            h = torch.cat([h, relu(d(h))], 1)
        return x + self.fuse(h)


class Path(nn.Module):
    """SPEC §2: head, feature U-Net, n_rdb RDBs, (fuse1), fuse3 + skip, up + pixel
    shuffle (×2), tail. Returns o (3 channels, twice the input size), no activation."""

    def __init__(self, c, n_rdb):
        super().__init__()
        self.head = conv(3, 6, c)
        self.unet = UNet(c, c, image=False)
        self.rdbs = nn.ModuleList([RDB(c) for _ in range(n_rdb)])
        if n_rdb > 1:
            self.fuse1 = conv(1, n_rdb * c, c)
        self.fuse3 = conv(3, c, c)
        self.up = conv(3, c, 4 * c)
        self.tail = conv(3, c, 3)

    def forward(self, x):
        f0 = self.head(x)
        r = self.unet(f0)
        rs = []
        for rdb in self.rdbs:
            r = rdb(r)
            rs.append(r)
        h = self.fuse1(torch.cat(rs, 1)) if len(rs) > 1 else rs[0]
        h = self.fuse3(h) + f0
        h = F.pixel_shuffle(self.up(h), 2)
        return self.tail(h)


class SUNG(nn.Module):
    """The whole network: deblur = Path(3), edge = Path(1) (not for siun), restore =
    image U-Net on 9 (sung, base) or 6 (siun) channels. Weights are initialised with
    init_weights(self, seed)."""

    def __init__(self, variant="sung", width=32, seed=0):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
        self.variant = variant
        self.width = width
        self.deblur = Path(width, 3)
        if variant != "siun":
            self.edge = Path(width, 1)
        self.restore = UNet(6 if variant == "siun" else 9, width, image=True)
        init_weights(self, seed)


# ---- deterministic initialisation (SPEC §6; src/model.c model_init_weights) ---------------

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def splitmix64_py(state, n):
    """Pure-int SplitMix64: the first n outputs from state (slow; for the self-test)."""
    out = []
    for _ in range(n):
        state = (state + GOLDEN) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


def splitmix64_np(state, n):
    """Vectorised SplitMix64 (numpy uint64 arithmetic wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN) + np.uint64(state)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def glorot_limit(shape):
    fans = (shape[0] + shape[1]) * shape[2] * shape[3]
    return math.sqrt(6.0 / fans)


def init_tensor(name, shape, seed):
    """The initial value of parameter `name` (float32 numpy array of `shape`): 4-D weights
    Glorot-uniform from SplitMix64(seed ^ FNV-1a-64(name)), everything else zero."""
    n = int(np.prod(shape))
    if len(shape) != 4:
        return np.zeros(shape, np.float32)
    r = splitmix64_np((seed & M64) ^ fnv1a64(name), n)
    u = (r >> np.uint64(40)).astype(np.float64) * 2.0**-24
    return ((2 * u - 1) * glorot_limit(shape)).astype(np.float32).reshape(shape)


def init_weights(model, seed):
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(init_tensor(name, tuple(p.shape), seed)))


def param_count(model):
    return sum(p.numel() for p in model.parameters()), len(list(model.parameters()))


# ---- edge map (SPEC §3) -------------------------------------------------------------------


def edge_map(I):
    """|dx| + |dy| per channel; forward differences, zero in the last column / row.
    torch.abs' backward is sign(x) with sign(0) = 0, as the spec asks."""
    dx = F.pad(I[..., :, 1:] - I[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(I[..., 1:, :] - I[..., :-1, :], (0, 0, 0, 1))
    return kabs(dx) + kabs(dy)


# ---- pyramid (SPEC §5) --------------------------------------------------------------------

SIGMA = 2.0 / 3.0
RADIUS = 3


def gauss_taps(dtype=torch.float64):
    """The 7 taps of scipy's gaussian_filter1d for σ = 2/3, truncate 4 (radius 3)."""
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    w = np.exp(-0.5 / SIGMA**2 * x * x)
    return torch.tensor(w / w.sum(), dtype=dtype)


def symmetric_index(n, pad):
    """Indices of a half-sample symmetric extension (d c b a | a b c d | d c b a),
    scipy's 'reflect', periodic with period 2n so that any pad length works."""
    i = np.arange(-pad, n + pad) % (2 * n)
    return torch.from_numpy(np.where(i >= n, 2 * n - 1 - i, i))


def reduce(B):
    """B [N,C,H,W] (H, W even) -> [N,C,H/2,W/2]: separable Gaussian (σ = 2/3, 7 taps,
    half-sample symmetric boundary), blurring along H first then W like scipy, then the
    mean of each 2×2 block."""
    N, C, H, W = B.shape
    assert H % 2 == 0 and W % 2 == 0, B.shape
    t = gauss_taps(B.dtype).to(B.device)
    x = B.reshape(N * C, 1, H, W)
    x = x.index_select(2, symmetric_index(H, RADIUS).to(B.device))
    x = F.conv2d(x, t.view(1, 1, -1, 1))
    x = x.index_select(3, symmetric_index(W, RADIUS).to(B.device))
    x = F.conv2d(x, t.view(1, 1, 1, -1))
    x = F.avg_pool2d(x, 2)
    return x.reshape(N, C, H // 2, W // 2)


def pyramid(B, I):
    """[B_0 = B, B_1, …, B_I]."""
    out = [B]
    for _ in range(I):
        out.append(reduce(out[-1]))
    return out


# ---- one scale step and the scale loop (SPEC §4, §5) ------------------------------------


def step(model, B_next, S_next, B_i):
    """One scale: (S_i, F_i, G_i) from B_{i+1}, S_{i+1} (h×w) and B_i (2h×2w).
    G_i is None for siun."""
    x = torch.cat([B_next, S_next], 1)
    F_i = torch.tanh(model.deblur(x)) / 2 + 0.5
    if model.variant == "siun":
        return model.restore(torch.cat([B_i, F_i], 1)), F_i, None
    if model.variant == "sung":
        G_i = model.edge(torch.cat([edge_map(B_next), edge_map(S_next)], 1))
    else:
        G_i = model.edge(x)
    return model.restore(torch.cat([B_i, F_i, G_i], 1)), F_i, G_i


def forward_scales(model, B_pyr, I, detach=True):
    """The scale loop on a pyramid B_pyr = [B_0 … B_I]. Returns lists S (length I+1,
    S[I] = B_I), F and G (length I, index = scale; G entries None for siun). S_{i+1}
    enters scale i detached (a constant), as in training."""
    S = [None] * (I + 1)
    Fs = [None] * I
    Gs = [None] * I
    S[I] = B_pyr[I]
    for i in range(I - 1, -1, -1):
        prev = S[i + 1].detach() if detach else S[i + 1]
        S[i], Fs[i], Gs[i] = step(model, B_pyr[i + 1], prev, B_pyr[i])
    return S, Fs, Gs


def pad_amounts(n, m):
    total = -n % m
    return total // 2, total - total // 2


def infer(model, img, iters=4):
    """SPEC §5 inference on an image of any size. img [N,3,H,W] tensor in [0,1].
    Pads each side (centred, numpy 'reflect', whole-sample) to a multiple of 2^(iters+2),
    runs the scale loop, crops back and clamps to [0,1]. Returns (output, S) with S the
    list S_0 … S_iters of the padded run (unclamped; S_iters = B_iters)."""
    N, C, H, W = img.shape
    m = 1 << (iters + 2)
    top, bottom = pad_amounts(H, m)
    left, right = pad_amounts(W, m)
    a = img.detach().cpu().numpy()
    a = np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")
    x = torch.from_numpy(a).to(img.dtype)
    with torch.no_grad():
        S, _, _ = forward_scales(model, pyramid(x, iters), iters)
    out = S[0][:, :, top:top + H, left:left + W].clamp(0, 1)
    return out, S


def to_u8(x):
    """float image -> 8-bit levels as the C code writes them: clamp, then
    lrintf(255.0f * v) in float32 (round half to even)."""
    v = np.clip(np.asarray(x, np.float32), 0, 1)
    return np.rint(np.float32(255) * v).astype(np.uint8)


def from_u8(a):
    """8-bit levels -> float32 k/255 as the C code reads them (k / 255.0f)."""
    return np.asarray(a).astype(np.float32) / np.float32(255)


# ---- training loss (SPEC §6) --------------------------------------------------------------


def default_weights(variant):
    """(w_aux, w_sup): 1, 1 for sung, 0, 0 otherwise."""
    return (1.0, 1.0) if variant == "sung" else (0.0, 0.0)


def train_loss(model, blur, sharp, I, w_aux=None, w_sup=None):
    """Total loss of one batch and its parts. blur, sharp [N,3,H,W], H and W divisible by
    2^(I+2). Returns (total, terms, S, F, G): total a scalar tensor (differentiable),
    terms a float64 numpy array [I,3] (row i = scale i: pixel, edge_aux, edge_sup, each
    unweighted; as the C engine reports them, edge_aux is computed only for sung or when
    w_aux != 0, edge_sup wherever there is a G (sung, base), and 0 otherwise), S/F/G the
    per-scale outputs as in forward_scales. S_{i+1} enters scale i as a constant
    (S_I = B_I)."""
    da, ds = default_weights(model.variant)
    w_aux = da if w_aux is None else w_aux
    w_sup = ds if w_sup is None else w_sup
    if model.variant == "siun" and w_sup != 0:
        raise ValueError("siun has no edge path: w_sup must be 0")
    Bp = pyramid(blur, I)
    Gp = pyramid(sharp, I)
    S, Fs, Gs = forward_scales(model, Bp, I, detach=True)
    total = 0
    terms = np.zeros((I, 3))
    for i in range(I - 1, -1, -1):
        mgt = edge_map(Gp[i])
        pix = kabs(S[i] - Gp[i]).mean()
        L = pix
        terms[i, 0] = pix.item()
        if w_aux != 0 or model.variant == "sung":
            aux = kabs(edge_map(S[i]) - mgt).mean()
            L = L + w_aux * aux
            terms[i, 1] = aux.item()
        if Gs[i] is not None:
            sup = kabs(Gs[i] - mgt).mean()
            L = L + w_sup * sup
            terms[i, 2] = sup.item()
        total = total + L
    return total, terms, S, Fs, Gs


def kink_sites(model, blur, sharp, I, tau=1e-5, w_aux=None, w_sup=None, keep=1e-5):
    """The elements where a float32 engine may legitimately take the other branch of a
    kink, and what that would do to the gradient.

    A float32 forward pass differs from this float64 one by ~1e-6 of each tensor's rms
    (up to a few 1e-5 here and there). Where a ReLU input or the argument of a |·| on the
    gradient's path lies that close to 0, the engine may take the other branch, and its
    gradient then differs from ours by a discrete amount: one such element moves some
    small-gradient tensors (e.g. deep biases of the U-Nets, which run on 2×2 pixels at the
    coarsest scale) by up to ~1e-2 relative. This finds every element with
    0 < |x| < tau·max(rms(x), 1e-3) and, for each, the change of every parameter's
    gradient if it flipped: δg = ∓m·(∂L/∂y_e)·∂x_e/∂θ (m = 1 for ReLU, 2 for |·|).

    Returns (grads, sites, allow, proj): grads {param: float64 numpy} our gradient of the
    total loss; sites a list of dicts (kind, shape, index, ratio |x|/threshold, rel = the
    largest ‖δg_k‖/‖g_k‖, delta {param: float32 numpy δg}, the latter only when rel >
    keep, and proj {param: ⟨δg_k, g_k⟩/‖g_k‖²}); allow {param: Σ_sites ‖δg_k‖}, a bound on ‖g_engine − g_ref‖ from flips; proj
    {param: Σ_sites |⟨δg_k, g_k⟩| / ‖g_k‖²}, a bound on what flips can do to the scale
    ⟨g_engine, g_k⟩/‖g_k‖² of a tensor's gradient. Flips point in directions unrelated to
    g_k, so proj is far tighter than allow/‖g_k‖: it is what lets a test catch a tensor
    whose whole gradient is off by 1 % even where allow is loose."""
    global _KINK
    params = list(model.named_parameters())
    model.zero_grad()
    _KINK = []
    try:
        total = train_loss(model, blur, sharp, I, w_aux, w_sup)[0]
        recs = _KINK
    finally:
        _KINK = None
    for _, _, y in recs:
        y.retain_grad()
    total.backward(retain_graph=True)
    grads = {k: p.grad.detach().double().numpy().copy() for k, p in params}
    gnorm = {k: max(float(np.linalg.norm(g)), 1e-30) for k, g in grads.items()}
    allow = {k: 0.0 for k, _ in params}
    proj = {k: 0.0 for k, _ in params}
    sites = []
    for kind, x, y in recs:
        if y.grad is None:
            continue
        xd = x.detach()
        thr = tau * max(float(xd.double().pow(2).mean().sqrt()), 1e-3)
        idx = torch.nonzero(((xd.abs() < thr) & (xd != 0)).flatten()).flatten().tolist()
        u = y.grad.detach().flatten()
        for e in idx:
            ue = float(u[e])
            if ue == 0:
                continue
            xe = float(xd.flatten()[e])
            # the change of dL/dx_e if the branch flips
            dslope = (-ue if xe > 0 else ue) if kind == "relu" else -2.0 * ue * math.copysign(1, xe)
            gs = torch.autograd.grad(x.flatten()[e], [p for _, p in params], retain_graph=True,
                                     allow_unused=True)
            delta, rel, sproj = {}, 0.0, {}
            for (k, _), g in zip(params, gs):
                if g is None:
                    continue
                d = (dslope * g.detach().double()).numpy()
                n = float(np.linalg.norm(d))
                allow[k] += n
                sproj[k] = float(np.vdot(d, grads[k])) / gnorm[k] ** 2
                proj[k] += abs(sproj[k])
                rel = max(rel, n / gnorm[k])
                if n:
                    delta[k] = d.astype(np.float32)
            sites.append({"kind": kind, "shape": tuple(x.shape), "index": e,
                          "ratio": abs(xe) / thr, "rel": rel, "proj": sproj,
                          "delta": delta if rel > keep else None})
    model.zero_grad()
    return grads, sites, allow, proj


def explain_by_flips(diff, grads, sites):
    """Least-squares fit of diff = g_engine − g_ref ({param: array}) by a combination of
    the sites' flip vectors. Returns (coefficients, residual {param: float64 array}).
    A coefficient near 1 means the engine took the other branch at that site."""
    use = [s for s in sites if s["delta"] is not None]
    names = list(grads)
    if not use:
        return np.zeros(0), {k: np.asarray(diff[k], np.float64) for k in names}
    # normalise per tensor so that every tensor weighs by its relative error
    w = {k: 1.0 / max(float(np.linalg.norm(grads[k])), 1e-30) for k in names}
    d = np.concatenate([np.asarray(diff[k], np.float64).ravel() * w[k] for k in names])
    V = np.zeros((d.size, len(use)))
    for j, s in enumerate(use):
        V[:, j] = np.concatenate([s["delta"][k].ravel() * w[k] if k in s["delta"]
                                  else np.zeros(grads[k].size) for k in names])
    c = np.linalg.lstsq(V, d, rcond=None)[0]
    res = {}
    for k in names:
        r = np.asarray(diff[k], np.float64).copy()
        for j, s in enumerate(use):
            if k in s["delta"]:
                r -= c[j] * s["delta"][k].reshape(r.shape)
        res[k] = r
    return c, res


def make_adam(model, lr=1e-4):
    """Adam of SPEC §6 (not AdamW), exactly torch.optim.Adam."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0, amsgrad=False, foreach=False)


# ---- safetensors ---------------------------------------------------------------------------

_DT = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
       "I32": np.dtype("<i4"), "I64": np.dtype("<i8"), "U8": np.dtype("u1")}


def st_write(path, tensors, metadata=None):
    """tensors: {name: (numpy array, dtype "F32" | "F16")} or {name: array} (F32).
    Header: JSON with sorted keys, `__metadata__` (str -> str), padded with spaces to a
    multiple of 8; data in sorted-key order, little-endian."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        v = tensors[name]
        arr, dt = v if isinstance(v, tuple) else (v, "F32")
        if dt not in ("F32", "F16"):
            raise ValueError(f"{name}: writing {dt} is not supported")
        if isinstance(arr, torch.Tensor):
            arr = arr.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(arr).astype(_DT[dt]))
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def st_read(path, raw=False):
    """Returns ({name: float32 numpy array}, metadata). F32, F16 and BF16 are converted to
    float32 (raw=True keeps F32/F16 as stored)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} past the end of the file")
    header = json.loads(data[8:8 + n].decode())
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, d in header.items():
        a, b = d["data_offsets"]
        buf = data[base + a:base + b]
        shape = tuple(d["shape"])
        dt = d["dtype"]
        if dt == "BF16":
            u = np.frombuffer(buf, "<u2").astype(np.uint32) << np.uint32(16)
            arr = u.view(np.float32)
        elif dt in _DT:
            arr = np.frombuffer(buf, _DT[dt])
            if not raw and dt in ("F16", "F64"):
                arr = arr.astype(np.float32)
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"{path}: {name}: {arr.size} elements for shape {shape}")
        out[name] = arr.reshape(shape).copy()
    return out, meta


def load_weights(path, dtype=torch.float32):
    """A SUNG module from a weights file (metadata variant, width), strict load."""
    t, meta = st_read(path)
    model = SUNG(meta["variant"], int(meta["width"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in t.items()}, strict=True)
    return model.to(dtype)


def save_weights(path, model, half=False):
    dt = "F16" if half else "F32"
    st_write(path, {k: (v.float().numpy(), dt) for k, v in model.state_dict().items()},
             {"format": "pt", "variant": model.variant, "width": str(model.width)})


# ---- self-test ----------------------------------------------------------------------------

EXPECTED_COUNTS = {"sung": (9365801, 270), "base": (9365801, 270), "siun": (6306278, None)}


def self_test():
    # SPEC §7 parameter counts and shapes at c = 32
    for v in VARIANTS:
        m = SUNG(v, 32)
        n, t = param_count(m)
        en, et = EXPECTED_COUNTS[v]
        assert n == en, f"{v}: {n} parameters, SPEC §7 says {en}"
        assert et is None or t == et, f"{v}: {t} tensors, SPEC §7 says {et}"
        print(f"{v}: {n} parameters in {t} tensors (SPEC §7: {en})")
    sd = SUNG("sung", 32).state_dict()
    c = 32
    for name, shape in [("deblur.head.weight", (c, 6, 3, 3)),
                        ("deblur.unet.e1.conv.weight", (c, c, 5, 5)),
                        ("deblur.unet.e1.res.0.c1.weight", (c, c, 3, 3)),
                        ("deblur.unet.d2.up.weight", (4 * c, 2 * c, 5, 5)),
                        ("deblur.rdbs.0.dense.3.weight", (c, 4 * c, 3, 3)),
                        ("deblur.rdbs.0.fuse.weight", (c, 7 * c, 1, 1)),
                        ("deblur.fuse1.weight", (c, 3 * c, 1, 1)),
                        ("deblur.up.weight", (4 * c, c, 3, 3)),
                        ("edge.tail.weight", (3, c, 3, 3)),
                        ("restore.e1.conv.weight", (c, 9, 5, 5)),
                        ("restore.ores.2.c2.bias", (c,)),
                        ("restore.oconv.weight", (3, c, 5, 5))]:
        assert tuple(sd[name].shape) == shape, (name, sd[name].shape, shape)
    for bad in ("deblur.rdbs.0.dense.3.bias", "deblur.rdbs.0.fuse.bias", "edge.fuse1.weight"):
        assert bad not in sd, bad
    assert tuple(SUNG("siun", 32).state_dict()["restore.e1.conv.weight"].shape) == (c, 6, 5, 5)
    # the vectorised init against pure-int SplitMix64
    for name, seed in [("deblur.head.weight", 0), ("restore.oconv.weight", 7),
                       ("deblur.unet.d2.up.weight", 2**64 - 1)]:
        shape = tuple(sd[name].shape)
        h = fnv1a64(name)
        ref = splitmix64_py((seed ^ h) & M64, 50)
        got = splitmix64_np((seed ^ h) & M64, 50)
        assert [int(g) for g in got] == ref, name
        lim = glorot_limit(shape)
        w = init_tensor(name, shape, seed).reshape(-1)[:50]
        for k in range(50):
            u = (ref[k] >> 40) * 2.0**-24
            assert np.float32((2 * u - 1) * lim) == w[k], (name, k)
    # a known FNV-1a-64 value
    assert fnv1a64("") == 0xCBF29CE484222325 and fnv1a64("a") == 0xAF63DC4C8601EC8C
    # reduce against skimage
    try:
        from skimage.transform import pyramid_gaussian
        rng = np.random.RandomState(0)
        img = rng.rand(24, 40, 3)
        ref = list(pyramid_gaussian(img, max_layer=3, downscale=2, channel_axis=-1))
        got = pyramid(torch.from_numpy(img.transpose(2, 0, 1)[None].copy()), 3)
        for k in range(4):
            err = np.abs(got[k][0].numpy().transpose(1, 2, 0) - ref[k]).max()
            assert err < 1e-12, (k, err)
        print("reduce matches skimage.pyramid_gaussian (float64)")
    except ImportError:
        print("skimage not found: reduce not checked")
    # a forward pass at width 4 on 32×32 with 2 iterations, each variant
    for v in VARIANTS:
        m = SUNG(v, 4, seed=3).double()
        x = torch.rand(1, 3, 30, 27, dtype=torch.float64)
        out, S = infer(m, x, 2)
        assert out.shape == x.shape and S[0].shape == (1, 3, 32, 32)
    print("self-test passed")


if __name__ == "__main__":
    self_test()
