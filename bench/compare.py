"""make bench: the C engine (`sung bench`) and the PyTorch reference (tests/ref/bench_ref.py)
on the shapes of issue 4, one after the other in the same run, as ratios.

    python3 bench/compare.py build/sung [RUNS]        # make bench [RUNS=3]

Shapes: width-32 sung, inference with 4 scale iterations at 512x512 and 1280x720, one
training step (batch 4, 128x128 crops, 3 iterations), and the time per layer type of the
512x512 inference. Every number is the median of RUNS runs after one warm-up. Runs:

  C    sung bench --what all --size 512x512      inference, layers, training step
  C    sung bench --what infer --size 1280x720   alone, so that its peak RSS is that size's
  C    sung bench --what infer --precision bf16  when this build and CPU run bf16
  C    sung bench --what train --precision bf16  the mixed-precision training step (idem)
  ref  bench_ref.py --size 512x512 --layers, --size 720x1280, --train --no-infer [--train-precision bf16]

The reference runs under this interpreter (make passes PYTHON=/usr/bin/python3); without
torch the C numbers are printed alone. Prints a table, then one JSON line (for
docs/BENCHMARKS.md). Threads: OMP_NUM_THREADS (default: all cores), the same for both.
"""
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
if len(sys.argv) < 2:
    sys.exit("usage: compare.py SUNG_BINARY [RUNS]")
sung = sys.argv[1]
runs = sys.argv[2] if len(sys.argv) > 2 else "3"
threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
env = dict(os.environ, OMP_NUM_THREADS=threads)
SIZES = ((512, 512), (1280, 720))  # (W, H); layers are compared at the first
TRAIN = ()                          # extra `sung bench` options for the step (defaults: issue 4's)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def c_bench(*args):
    """`sung bench ARGS --runs RUNS --json -`: (results, None), or (None, its message)."""
    cmd = [sung, "bench", *args, "--runs", runs, "--json", "-"]
    log("running: " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("sung bench: ")]
        msg = lines[-1][len("sung bench: "):] if lines else r.stderr.strip()[-300:]
        return None, msg or f"exit status {r.returncode}"
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def have_torch():
    r = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True)
    return r.returncode == 0


def ref(*args):
    """bench_ref.py on the same model and threads: its JSON, or None (reported)."""
    cmd = [sys.executable, os.path.join(here, "..", "tests", "ref", "bench_ref.py"), "--variant", "sung",
           "--width", "32", "--threads", threads, "--runs", runs, *args]
    log("running: bench_ref.py " + " ".join(args))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        log("PyTorch reference failed: " + r.stderr.strip()[-300:])
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


load = os.getloadavg()[0]
if load > 0.5:
    log(f"note: load average {load:.1f} before starting; other work on the machine makes these numbers noisy")

# C first, then the reference, each shape in its own process where memory is measured
(w0, h0), (w1, h1) = SIZES
c, err = c_bench("--what", "all", "--size", f"{w0}x{h0}", *TRAIN)
if err:
    sys.exit(f"sung bench failed: {err}")
c1, err = c_bench("--what", "infer", "--size", f"{w1}x{h1}")
if err:
    sys.exit(f"sung bench failed: {err}")
c.update({k: v for k, v in c1.items() if k.startswith(f"infer_{w1}x{h1}")})
bf16, bf16_err = c_bench("--what", "infer", "--precision", "bf16", "--size", ",".join(f"{w}x{h}" for w, h in SIZES))
# the training step in bf16 (mixed precision), next to PyTorch's own bf16 autocast step
bf16_train = c_bench("--what", "train", "--precision", "bf16", *TRAIN)[0] if bf16 else None

torch_found = have_torch()
p = {}
if torch_found:
    # bench_ref.py takes HxW
    p[f"infer_{w0}x{h0}"] = ref("--size", f"{h0}x{w0}", "--iters", str(c["iters"]), "--layers")
    p[f"infer_{w1}x{h1}"] = ref("--size", f"{h1}x{w1}", "--iters", str(c["iters"]))
    p["train"] = ref("--train", "--no-infer", "--batch", str(c["batch"]), "--patch", str(c["patch"]),
                     "--train-iters", str(c["train_iters"]))
    p["train_bf16"] = ref("--train", "--no-infer", "--batch", str(c["batch"]), "--patch", str(c["patch"]),
                          "--train-iters", str(c["train_iters"]), "--train-precision", "bf16")


def pget(key, field):
    return (p.get(key) or {}).get(field)


# (label, C s, PyTorch s, C GFLOP/s, C % peak)
rows = []
for w, h in SIZES:
    k = f"infer_{w}x{h}"
    rows.append((f"inference {w}x{h}, {c['iters']} iterations", c[k + "_s"], pget(k, "infer_s"), c[k + "_gflops"],
                 c[k + "_peak_pct"]))
rows.append((f"training step, batch {c['batch']}, {c['patch']}x{c['patch']}, {c['train_iters']} iterations",
             c["train_s"], pget("train", "train_step_s"), c["train_gflops"], c["train_peak_pct"]))
if bf16:
    for w, h in SIZES:
        k = f"infer_{w}x{h}"
        # % of the fp32 FMA peak; PyTorch's reference is fp32 only
        rows.append((f"inference {w}x{h}, bf16", bf16[k + "_s"], None, bf16[k + "_gflops"], bf16[k + "_peak_pct"]))
if bf16_train:  # PyTorch column: its bf16 autocast step
    rows.append(("training step, bf16 (PyTorch: autocast bf16)", bf16_train["train_s"],
                 pget("train_bf16", "train_step_s"), bf16_train["train_gflops"], bf16_train["train_peak_pct"]))

# Per layer type, the first size's inference. Names match bench_ref.py's; "conv 3x3 + shuffle" is,
# in PyTorch, the paths' `up` conv alone (its pixel_shuffle counts in "other").
layers = []
pl = {r["name"]: r for r in (pget(f"infer_{w0}x{h0}", "layers") or [])}
for r in c.get(f"layers_infer_{w0}x{h0}", []):
    layers.append(("  " + r["name"], r["s"], (pl.pop(r["name"], None) or {}).get("s"), r.get("gflops"),
                   r.get("peak_pct")))
for name, r in pl.items():  # types only PyTorch has (none expected)
    layers.append(("  " + name, None, r["s"], None, None))


def fmt(v, spec, width):
    return f"{v:{width}{spec}}" if v is not None else f"{'-':>{width}}"


peak = f"{c['peak_gflops']:.0f} GFLOP/s" if c.get("peak_gflops") else "unknown"
print(f"\nC engine: kernels {c['kernels']}, {c['threads']} thread(s); machine peak {peak} (fp32 FMA probe)")
if torch_found:
    ver = next((v["torch"] for v in p.values() if v), "?")
    print(f"PyTorch reference: torch {ver}, float32, {threads} thread(s)")
else:
    print(f"PyTorch was not found ({sys.executable} cannot import torch): C numbers only")
print(f"median of {runs} runs after one warm-up each, all in this run\n")
print(f"{'':50} {'C (s)':>8} {'PyTorch (s)':>12} {'speed-up':>9} {'C GFLOP/s':>10} {'% peak':>7}")


def show(name, cs, ps, gf, pct):
    ratio = f"{ps / cs:.2f}x" if ps and cs else "-"
    print(f"{name:50} {fmt(cs, '.3f', 8)} {fmt(ps, '.3f', 12)} {ratio:>9} {fmt(gf, '.1f', 10)} {fmt(pct, '.1f', 7)}")


for row in rows:
    show(*row)
if bf16_train and pget("train", "train_step_s"):
    print(f"  (training step, C bf16 against PyTorch fp32: {pget('train', 'train_step_s') / bf16_train['train_s']:.2f}x)")
if layers:
    print(f"per layer type, inference {w0}x{h0}:")
    for row in layers:
        show(*row)
if bf16_err:
    print(f"bf16: {bf16_err}")
elif bf16:
    print("  (bf16 rows: % of the fp32 FMA peak, which bf16 dot products can exceed)")
if layers:
    print("  (\"other\": everything outside the convolutions — element-wise ops, pyramid, edge maps, padding;\n"
          "   PyTorch's \"conv 3x3 + shuffle\" is the up conv without its pixel shuffle)")
print(f"C peak resident memory: {w0}x{h0} inference {c[f'infer_{w0}x{h0}_rss_mb']} MB, "
      f"{w1}x{h1} inference {c[f'infer_{w1}x{h1}_rss_mb']} MB (each in a process that had run only that size)")

print(json.dumps({
    "runs": int(runs), "threads": int(threads),
    "table": [{"row": ("layer " if name.startswith("  ") else "") + name.strip(), "c_s": cs, "pytorch_s": ps, "speedup": round(ps / cs, 3) if ps and cs else None,
               "c_gflops": gf, "c_peak_pct": pct} for name, cs, ps, gf, pct in rows + layers],
    "bf16_error": bf16_err,
    "c": c, "c_bf16": bf16, "c_bf16_train": bf16_train, "pytorch": p if torch_found else None,
}))
