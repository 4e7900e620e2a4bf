"""make bench: the C engine (`sung bench`) and the PyTorch reference (tests/ref/bench_ref.py)
on the shapes of issue 4, one after the other in the same run, as ratios.

    python3 bench/compare.py build/sung [RUNS]        # make bench [RUNS=3] [ROUNDS=1]

Shapes: width-32 sung, inference with 4 scale iterations at 512x512 and 1280x720, one
training step (batch 4, 128x128 crops, 3 iterations), and the time per layer type of the
512x512 inference. Every number is the median of RUNS runs after one warm-up. Runs:

  C    sung bench --what all --size 512x512      inference, layers, training step
  C    sung bench --what infer --size 1280x720   alone, so that its peak RSS is that size's
  C    sung bench --what infer --precision bf16  when this build and CPU run bf16
  C    sung bench --what train --precision bf16  the mixed-precision training step (idem)
  ref  bench_ref.py --size 512x512 --layers, --size 720x1280, --train --no-infer [--train-precision bf16]
  ORT  tests/ref/onnx_export.py, then node bench/ort_bench.js, each inference size

The reference runs under this interpreter (make passes PYTHON=/usr/bin/python3); without
torch the C numbers are printed alone. Prints a table, then one JSON line (for
docs/BENCHMARKS.md). Threads: OMP_NUM_THREADS (default: all cores), the same for all.
ROUNDS=k (k > 1): the inference at sung's default precision and ONNX Runtime's are measured
k times more or less at once, alternating C and ORT, each size, and the table pools their
runs (a host whose speed drifts moves both sides of the ratio alike); each round's ratio is
printed. BENCH_WRAP="CMD": each timed process runs as CMD PROCESS (e.g. a script that pauses other
work on a shared machine for that long).

ONNX Runtime: the reference model exported with torch.onnx.export at each inference size
(opset 17, the 4 scales unrolled; build/onnx/, re-exported when the exporter, sung_ref.py
or the weights change) and run by onnxruntime-node (all graph optimisations, the same thread count). npm
installs onnxruntime-node into bench/ort/ (git-ignored) the first time; without node, npm
or torch the ORT column says why it is empty. Weights: the default
weights models/sung.safetensors where they exist (speed does not depend on them; the
output check does): ORT's output is compared with PyTorch's (float) and with `sung deblur`'s
on the same 8-bit check image (PSNR between the two 8-bit results, C fp32 and bf16).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
if len(sys.argv) < 2:
    sys.exit("usage: compare.py SUNG_BINARY [RUNS]")
sung = sys.argv[1]
runs = sys.argv[2] if len(sys.argv) > 2 else "3"
# ROUNDS=k > 1: the inference at sung's default precision and ONNX Runtime's, each size, are
# measured k times, alternating (C, ORT, C, ORT, …), and their medians pool every run: a
# host whose speed drifts over minutes then moves both sides of the ratio alike
ROUNDS = int(os.environ.get("ROUNDS", "1"))
threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
env = dict(os.environ, OMP_NUM_THREADS=threads)
# BENCH_WRAP="CMD ARGS": run each timed process as CMD ARGS PROCESS… (e.g. a script that
# pauses other work on a shared machine while it runs)
WRAP = os.environ.get("BENCH_WRAP", "").split()
SIZES = ((512, 512), (1280, 720))  # (W, H); layers are compared at the first
TRAIN = ()                          # extra `sung bench` options for the step (defaults: issue 4's)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def c_bench(*args):
    """`sung bench ARGS --runs RUNS --json -`: (results, None), or (None, its message)."""
    cmd = [sung, "bench", *args, "--runs", runs, "--json", "-"]
    log("running: " + " ".join(cmd))
    r = subprocess.run(WRAP + cmd, capture_output=True, text=True, env=env)
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
    r = subprocess.run(WRAP + cmd, capture_output=True, text=True, env=env)
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


ROOT = os.path.join(here, "..")
DEFAULT_WEIGHTS = os.path.join(ROOT, "models", "sung.safetensors")
ORT_DIR = os.path.join(here, "ort")


def ort_ready():
    """None when node can load onnxruntime-node (installing it with npm into bench/ort the
    first time), else why not."""
    if not shutil.which("node"):
        return "node not found (apt-get install nodejs npm)"
    probe = ["node", "-e", f"require({json.dumps(os.path.join(ORT_DIR, 'node_modules', 'onnxruntime-node'))})"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return None
    if not shutil.which("npm"):
        return "onnxruntime-node is not installed and npm was not found (apt-get install npm)"
    log(f"installing onnxruntime-node into {os.path.relpath(ORT_DIR)} (npm, once)")
    os.makedirs(ORT_DIR, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", ORT_DIR, "--no-audit", "--no-fund", "onnxruntime-node"],
                       capture_output=True, text=True, env=dict(os.environ, ONNXRUNTIME_NODE_INSTALL_CUDA="skip"))
    if r.returncode or subprocess.run(probe, capture_output=True).returncode:
        return "npm install onnxruntime-node failed: " + (r.stderr.strip()[-300:] or "?")
    return None


def ort_run(w, h, iters):
    """Exports (when stale) and runs ONNX Runtime at w×h: its JSON with the output checks
    added, or a string saying why not."""
    out = os.path.join(ROOT, "build", "onnx")
    tag = f"{h}x{w}"
    model = os.path.join(out, f"sung_{tag}.onnx")
    deps = [os.path.join(ROOT, "tests", "ref", f) for f in ("onnx_export.py", "sung_ref.py")]
    weights = DEFAULT_WEIGHTS if os.path.exists(DEFAULT_WEIGHTS) else None
    # the weights are in the exported model and in its reference output: new weights
    # must re-export, or the output check compares two different models
    stale = deps + ([weights] if weights else [])
    if not os.path.exists(model) or any(os.path.getmtime(d) > os.path.getmtime(model) for d in stale):
        log(f"running: onnx_export.py --size {tag} (once per size)")
        cmd = [sys.executable, deps[0], "--size", tag, "--iters", str(iters), "--out", out]
        r = subprocess.run(cmd + (["--weights", weights] if weights else []), capture_output=True, text=True)
        if r.returncode:
            return "ONNX export failed: " + r.stderr.strip()[-300:]
    res = ort_time(w, h)
    if isinstance(res, str):
        return res
    ort_out = os.path.join(out, f"ort_{tag}.f32")
    res["weights"] = os.path.relpath(weights, ROOT) if weights else "fresh (seed 0)"
    try:
        res.update(ort_check(out, tag, ort_out, weights))
    except Exception as e:  # the timing stands without the check
        res["check_error"] = str(e)[-300:]
    return res


def ort_time(w, h):
    """ort_bench.js on the exported model of w×h (its output in build/onnx/ort_HxW.f32): its
    JSON, or a string saying why not"""
    out = os.path.join(ROOT, "build", "onnx")
    tag = f"{h}x{w}"
    log(f"running: ort_bench.js {tag}")
    r = subprocess.run(WRAP + ["node", os.path.join(here, "ort_bench.js"), os.path.join(out, f"sung_{tag}.onnx"),
                               os.path.join(out, f"in_{tag}.f32"), str(h), str(w), threads, runs,
                               os.path.join(out, f"ort_{tag}.f32")], capture_output=True, text=True, env=env)
    if r.returncode:
        return "ort_bench.js failed: " + r.stderr.strip()[-300:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def ort_check(out, tag, ort_out, weights):
    """ORT against PyTorch (max |difference| of the floats) and against `sung deblur`
    (fp32 and bf16) on the check image: PSNR between the 8-bit results."""
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
    from onnx_export import write_png
    a = np.fromfile(ort_out, np.float32)
    t = np.fromfile(os.path.join(out, f"torch_{tag}.f32"), np.float32)
    h, w = (int(v) for v in tag.split("x"))
    res = {"max_diff_vs_pytorch": float(np.abs(a - t).max())}
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "ort"))
        u8 = np.rint(np.float32(255) * np.clip(a, 0, 1)).astype(np.uint8).reshape(3, h, w)
        write_png(os.path.join(d, "ort", "x.png"), u8)
        for prec in ("fp32", "bf16"):
            os.makedirs(os.path.join(d, prec))
            cmd = [sung, "deblur", "--quiet", "--precision", prec, os.path.join(out, f"in_{tag}.png"),
                   "-o", os.path.join(d, prec, "x.png")]
            if weights:
                cmd[2:2] = ["--model", weights]
            if subprocess.run(cmd, capture_output=True, env=env).returncode:
                continue  # bf16 where the CPU lacks it
            r = subprocess.run([sung, "eval", "--pred", os.path.join(d, prec), "--gt", os.path.join(d, "ort"),
                                "--quiet"], capture_output=True, text=True)
            words = r.stdout.split()
            if "PSNR" in words:
                res[f"psnr_c_{prec}_vs_ort_db"] = float(words[words.index("PSNR") + 1])
    return res


ort_err = ort_ready() if torch_found else "needs torch to export the model"
o = {}
if not ort_err:
    for w, h in SIZES:
        o[f"infer_{w}x{h}"] = ort_run(w, h, c["iters"])


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


# The default precision: bf16 where this build and CPU run it (sung deblur --precision auto)
dflt, dflt_name = (bf16, "bf16") if bf16 else (c, "fp32")
paired = {}  # size key → per-round (C median, ORT median)
if ROUNDS > 1 and not ort_err:
    for w, h in SIZES:
        k = f"infer_{w}x{h}"
        if not isinstance(o.get(k), dict):
            continue
        pr = [(dflt[k + "_s"], o[k]["infer_s"])]
        for _ in range(ROUNDS - 1):
            cr, cerr = c_bench("--what", "infer", "--precision", dflt_name, "--size", f"{w}x{h}")
            orr = ort_time(w, h)
            if cerr or isinstance(orr, str):
                log(f"round skipped: {cerr or orr}")
                continue
            dflt[k + "_runs_s"] = dflt[k + "_runs_s"] + cr[k + "_runs_s"]
            o[k]["infer_runs_s"] = o[k]["infer_runs_s"] + orr["infer_runs_s"]
            pr.append((cr[k + "_s"], orr["infer_s"]))
        # the table's medians pool every round's runs (GFLOP/s follow the C time)
        new_s = median(dflt[k + "_runs_s"])
        for f in ("_gflops", "_peak_pct"):
            dflt[k + f] = round(dflt[k + f] * dflt[k + "_s"] / new_s, 2)
        dflt[k + "_s"] = new_s
        o[k]["infer_s"] = median(o[k]["infer_runs_s"])
        paired[k] = pr


def oget(key, field):
    v = o.get(key)
    return v.get(field) if isinstance(v, dict) else None


def pget(key, field):
    return (p.get(key) or {}).get(field)


# (label, C s, PyTorch s, ONNX Runtime s, C GFLOP/s, C % peak)
rows = []
for w, h in SIZES:
    k = f"infer_{w}x{h}"
    rows.append((f"inference {w}x{h}, {c['iters']} iterations, fp32" + ("" if bf16 else " *"), c[k + "_s"], pget(k, "infer_s"), oget(k, "infer_s"),
                 c[k + "_gflops"], c[k + "_peak_pct"]))
rows.append((f"training step, batch {c['batch']}, {c['patch']}x{c['patch']}, {c['train_iters']} iterations",
             c["train_s"], pget("train", "train_step_s"), None, c["train_gflops"], c["train_peak_pct"]))
if bf16:
    for w, h in SIZES:
        k = f"infer_{w}x{h}"
        # % of the fp32 FMA peak; the references are fp32 (against them: the same pictures' times)
        rows.append((f"inference {w}x{h}, bf16 *", bf16[k + "_s"], pget(k, "infer_s"), oget(k, "infer_s"),
                     bf16[k + "_gflops"], bf16[k + "_peak_pct"]))
if bf16_train:  # PyTorch column: its bf16 autocast step
    rows.append(("training step, bf16 (PyTorch: autocast bf16)", bf16_train["train_s"],
                 pget("train_bf16", "train_step_s"), None, bf16_train["train_gflops"], bf16_train["train_peak_pct"]))

# Per layer type, the first size's inference. Names match bench_ref.py's; "conv 3x3 + shuffle" is,
# in PyTorch, the paths' `up` conv alone (its pixel_shuffle counts in "other").
layers = []
pl = {r["name"]: r for r in (pget(f"infer_{w0}x{h0}", "layers") or [])}
for r in c.get(f"layers_infer_{w0}x{h0}", []):
    layers.append(("  " + r["name"], r["s"], (pl.pop(r["name"], None) or {}).get("s"), None, r.get("gflops"),
                   r.get("peak_pct")))
for name, r in pl.items():  # types only PyTorch has (none expected)
    layers.append(("  " + name, None, r["s"], None, None, None))


def fmt(v, spec, width):
    return f"{v:{width}{spec}}" if v is not None else f"{'-':>{width}}"


peak = f"{c['peak_gflops']:.0f} GFLOP/s" if c.get("peak_gflops") else "unknown"
print(f"\nC engine: kernels {c['kernels']}, {c['threads']} thread(s); machine peak {peak} (fp32 FMA probe)")
if torch_found:
    ver = next((v["torch"] for v in p.values() if v), "?")
    print(f"PyTorch reference: torch {ver}, float32, {threads} thread(s)")
else:
    print(f"PyTorch was not found ({sys.executable} cannot import torch): C numbers only")
if ort_err:
    print(f"ONNX Runtime: skipped, {ort_err}")
else:
    ov = next((v for v in o.values() if isinstance(v, dict)), None)
    if ov:
        print(f"ONNX Runtime: onnxruntime-node {ov['ort']}, float32, {ov['threads']} thread(s), all graph "
              f"optimisations (model: tests/ref/onnx_export.py, opset 17, weights {ov['weights']})")
    for k, v in o.items():
        if not isinstance(v, dict):
            print(f"ONNX Runtime {k}: {v}")
print(f"median of {runs} runs after one warm-up each, all in this run" +
      (f"; the {dflt_name} inference and ORT: {ROUNDS} alternating rounds, medians of all their runs"
       if paired else "") + "\n")
print(f"{'':46} {'C (s)':>7} {'PyTorch (s)':>11} {'x PyT':>6} {'ORT (s)':>8} {'x ORT':>6} {'GFLOP/s':>8} {'% peak':>6}")


def show(name, cs, ps, os_, gf, pct):
    ratio = f"{ps / cs:.2f}x" if ps and cs else "-"
    oratio = f"{os_ / cs:.2f}x" if os_ and cs else "-"
    print(f"{name:46} {fmt(cs, '.3f', 7)} {fmt(ps, '.3f', 11)} {ratio:>6} {fmt(os_, '.3f', 8)} {oratio:>6} "
          f"{fmt(gf, '.1f', 8)} {fmt(pct, '.1f', 6)}")


for row in rows:
    show(*row)
print("  (* sung's default precision on this CPU: `sung deblur` and `sung eval` run --precision auto, bf16 where\n"
      "   the CPU has avx512_bf16, else fp32)")
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
for k, pr in paired.items():
    print(f"rounds, {k[6:]} ({dflt_name} / ORT, each round's medians): " +
          ", ".join(f"{cs:.3f} / {os_:.3f} s = {os_ / cs:.2f}x" for cs, os_ in pr))
print(f"C peak resident memory: {w0}x{h0} inference {c[f'infer_{w0}x{h0}_rss_mb']} MB, "
      f"{w1}x{h1} inference {c[f'infer_{w1}x{h1}_rss_mb']} MB (each in a process that had run only that size)")
for k, v in o.items():
    if isinstance(v, dict):
        checks = ", ".join(f"{name} {v[key]:.2f} dB" for key, name in (("psnr_c_fp32_vs_ort_db", "C fp32"),
                                                                          ("psnr_c_bf16_vs_ort_db", "C bf16")) if key in v)
        print(f"ONNX Runtime output, {k}: max |ORT - PyTorch| {v.get('max_diff_vs_pytorch', float('nan')):.2g}; "
              f"8-bit PSNR against ORT: {checks or v.get('check_error', '?')}")

print(json.dumps({
    "runs": int(runs), "threads": int(threads), "rounds": ROUNDS,
    "paired": {k: [{"c_s": cs, "ort_s": os_} for cs, os_ in pr] for k, pr in paired.items()},
    "table": [{"row": ("layer " if name.startswith("  ") else "") + name.strip(), "c_s": cs, "pytorch_s": ps,
               "speedup": round(ps / cs, 3) if ps and cs else None, "ort_s": os_,
               "speedup_vs_ort": round(os_ / cs, 3) if os_ and cs else None,
               "c_gflops": gf, "c_peak_pct": pct} for name, cs, ps, os_, gf, pct in rows + layers],
    "bf16_error": bf16_err, "ort_error": ort_err,
    "c": c, "c_bf16": bf16, "c_bf16_train": bf16_train, "pytorch": p if torch_found else None, "ort": o or None,
}))
