"""make bench: the C engine and the PyTorch reference (tests/ref) on the same shapes in
the same run, as ratios. Usage: compare.py BENCH_BINARY [RUNS]. Prints a table and one
JSON line (for docs/BENCHMARKS.md)."""
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
binary = sys.argv[1]
runs = sys.argv[2] if len(sys.argv) > 2 else "3"
threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
env = dict(os.environ, OMP_NUM_THREADS=threads)

c = json.loads(subprocess.run([binary, runs], capture_output=True, text=True, check=True, env=env).stdout)


def ref(*args):
    cmd = ["/usr/bin/python3", os.path.join(here, "..", "tests", "ref", "bench_ref.py"), "--variant", "sung",
           "--width", "32", "--threads", threads, "--runs", runs, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        print("PyTorch reference failed (is python3-torch installed?):", r.stderr.strip()[-300:])
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


rows = []
for w, h in ((512, 512), (1280, 720)):
    p = ref("--size", f"{h}x{w}", "--iters", "4")
    cs = c[f"infer_{w}x{h}_s"]
    rows.append((f"inference {w}x{h}, 4 iterations", cs, p and p["infer_s"], c[f"infer_{w}x{h}_gflops"],
                 c[f"infer_{w}x{h}_peak_pct"]))
p = ref("--train", "--no-infer", "--batch", "4", "--patch", "128", "--train-iters", "3")
rows.append(("training step, batch 4, 128x128, 3 iterations", c["train_b4_128_s"], p and p.get("train_s"),
             c["train_gflops"], c["train_peak_pct"]))

print(f"machine peak (FMA probe, {c['threads']} threads): {c['peak_gflops']:.0f} GFLOP/s; kernels {c['kernels']}")
print(f"{'':48} {'C (s)':>8} {'PyTorch (s)':>12} {'speed-up':>9} {'C GFLOP/s':>10} {'% peak':>7}")
for name, cs, ps, gf, pct in rows:
    ratio = f"{ps / cs:.2f}x" if ps else "-"
    print(f"{name:48} {cs:8.2f} {ps if ps else float('nan'):12.2f} {ratio:>9} {gf:10.1f} {pct:7.1f}")
print(f"C peak resident memory (inference, both sizes): {c['infer_peak_rss_mb']} MB")
print(json.dumps({"c": c, "pytorch": [r[2] for r in rows]}))
