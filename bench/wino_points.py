#!/usr/bin/python3
"""bench/wino_points.py: how much bf16 products in the Winograd domain cost, by the choice
of interpolation points (issue 13: "Winograd-domain products in bf16, if it holds accuracy").

A float64 simulation of one 3x3 layer of 32 -> 32 channels on T tiles of uniform [-1, 1]
data and weights: V = B^T d B and U = G g G^T rounded to bf16 (round to nearest even), the
products and the output transform exact, against the exact correlation. The error is the
relative L2 of the output, as tests/test_ops.c states it for the kernels (the F(4x4) kernel
with bf16 products measures 2.2-2.5 % there; this gives 2.5 % for the same points). Also
the direct convolution on bf16-rounded operands, which is what bf16 inference does today.

For F(m, 3) with finite points p_0..p_{n-2} and infinity (n = m + 2): A^T[i][j] = p_j^i,
G[j][k] = p_j^k / prod_{l != j}(p_j - p_l), last column of A^T and last row of G the
point at infinity; B^T solved from A^T diag(G g) B^T d = the correlation of g and d for
every g and d (a linear system, checked to be exact).

`--split`: products in bf16 at some points of the Winograd domain and in fp32 at the
others. Each point's share of the output error is measured alone (only its products
rounded), and the points that contribute most are kept in fp32, k at a time: the error for
each k says whether a few badly conditioned points carry the error (then mixed products
would pay) or all of them do.
"""
import sys
import numpy as np


def bf16(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32).astype(np.float64)


def transforms(m, pts, r=3):
    n = m + r - 1
    assert len(pts) == n - 1
    AT, G = np.zeros((m, n)), np.zeros((n, r))
    for j, p in enumerate(pts):
        AT[:, j] = [p**i for i in range(m)]
        f = np.prod([p - q for q in pts if q != p])
        G[j] = [p**k / f for k in range(r)]
    AT[m - 1, n - 1] = G[n - 1, r - 1] = 1
    BT = np.zeros((n, n))
    rows = np.array([AT[i] * G[:, k] for i in range(m) for k in range(r)])
    for col in range(n):
        rhs = np.array([1.0 if col - i == k else 0.0 for i in range(m) for k in range(r)])
        BT[:, col] = np.linalg.lstsq(rows, rhs, rcond=None)[0]
    rng = np.random.default_rng(1)
    g, d = rng.standard_normal(r), rng.standard_normal(n)
    exact = [g @ d[i:i + r] for i in range(m)]
    assert np.allclose(AT @ ((G @ g) * (BT @ d)), exact, atol=1e-9), "not a Winograd algorithm"
    return AT, G, BT


def correlate(d, g, m):
    return sum(np.einsum("kc,tcab->tkab", g[:, :, y, x], d[:, :, y:y + m, x:x + m])
               for y in range(3) for x in range(3))


def wino_error(m, pts, C=32, K=32, T=300, seed=0):
    AT, G, BT = transforms(m, pts)
    rng = np.random.default_rng(seed)
    d = rng.uniform(-1, 1, (T, C, m + 2, m + 2))
    g = rng.uniform(-1, 1, (K, C, 3, 3))
    U = bf16(np.einsum("ij,kcjl,ml->kcim", G, g, G))
    V = bf16(np.einsum("ij,tcjl,ml->tcim", BT, d, BT))
    Y = np.einsum("ai,tkij,bj->tkab", AT, np.einsum("kcij,tcij->tkij", U, V), AT)
    ref = correlate(d, g, m)
    return np.linalg.norm(Y - ref) / np.linalg.norm(ref)


def split_errors(m, pts, counts, C=32, K=32, T=200, seed=0):
    """The relative L2 error with the products of the k worst points in fp32 (exact) and
    the rest on bf16 U and V, for each k in counts."""
    AT, G, BT = transforms(m, pts)
    n = m + 2
    rng = np.random.default_rng(seed)
    d = rng.uniform(-1, 1, (T, C, n, n))
    g = rng.uniform(-1, 1, (K, C, 3, 3))
    U = np.einsum("ij,kcjl,ml->kcim", G, g, G)
    V = np.einsum("ij,tcjl,ml->tcim", BT, d, BT)
    D = np.einsum("kcij,tcij->tkij", bf16(U), bf16(V)) - np.einsum("kcij,tcij->tkij", U, V)
    norm = np.linalg.norm(correlate(d, g, m))

    def out_err(mask):
        return np.linalg.norm(np.einsum("ai,tkij,bj->tkab", AT, D * mask, AT)) / norm

    share = np.zeros(n * n)
    for q in range(n * n):
        one = np.zeros(n * n)
        one[q] = 1
        share[q] = out_err(one.reshape(n, n))
    worst = np.argsort(-share)
    res = []
    for k in counts:
        mask = np.ones(n * n)
        mask[worst[:k]] = 0
        res.append(out_err(mask.reshape(n, n)))
    return res


def direct_error(C=32, K=32, T=300, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(-1, 1, (T, C, 6, 6))
    g = rng.uniform(-1, 1, (K, C, 3, 3))
    ref = correlate(d, g, 4)
    return np.linalg.norm(correlate(bf16(d), bf16(g), 4) - ref) / np.linalg.norm(ref)


CASES = [
    ("F(2x2)", 2, [0, 1, -1]),
    ("F(4x4)", 4, [0, 1, -1, 2, -2]),
    ("F(4x4)", 4, [0, 1, -1, 1 / 2, -1 / 2]),
    ("F(4x4)", 4, [0, 1 / 2, -1 / 2, 2, -2]),
    ("F(4x4)", 4, [0, 2 / 3, -2 / 3, 3 / 2, -3 / 2]),
    ("F(4x4)", 4, [0, 1, -1, 3 / 4, -3 / 4]),
    ("F(6x6)", 6, [0, 1, -1, 2, -2, 1 / 2, -1 / 2]),
    ("F(6x6)", 6, [0, 1, -1, 1 / 2, -1 / 2, 3 / 2, -3 / 2]),
]

def main_split():
    for name, m, pts in (CASES[1], CASES[4], CASES[6]):
        n = (m + 2) ** 2
        counts = [0, n // 4, n // 2, 3 * n // 4, n - 4]
        errs = split_errors(m, pts, counts)
        shown = ", ".join("%g" % p for p in pts)
        print("%s, points %s: fp32 products at the worst k of %d points" % (name, shown, n))
        for k, e in zip(counts, errs):
            print("  k = %2d (bf16 at %2d): %.2f %%" % (k, n - k, 100 * e))
    print("direct, operands rounded to bf16: %.2f %%" % (100 * direct_error()))


if __name__ == "__main__" and sys.argv[1:] not in ([], ["--split"]):
    sys.exit("usage: bench/wino_points.py [--split]")
elif __name__ == "__main__" and sys.argv[1:] == ["--split"]:
    main_split()
elif __name__ == "__main__":
    print("%-8s %-34s %s" % ("", "finite points (and infinity)", "relative L2, bf16 U and V"))
    for name, m, pts in CASES:
        shown = ", ".join("%g" % p for p in pts)
        print("%-8s %-34s %.2f %%" % (name, shown, 100 * wino_error(m, pts)))
    print("%-8s %-34s %.2f %%" % ("direct", "operands rounded to bf16", 100 * direct_error()))
