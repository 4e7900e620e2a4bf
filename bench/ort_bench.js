// ONNX Runtime (onnxruntime-node, CPU) on a model from tests/ref/onnx_export.py, for
// `make bench` (bench/compare.py):
//
//   node bench/ort_bench.js MODEL.onnx IN.f32 H W THREADS RUNS OUT.f32
//
// All graph optimisations, THREADS intra-op threads, sequential execution; the median of
// RUNS runs after one warm-up (session creation, which optimises the graph, not timed).
// Writes the output of the last run (raw float32 [1,3,H,W]) to OUT.f32 and one JSON line.
// onnxruntime-node is looked up in bench/ort/node_modules (make bench installs it there
// with npm), then on node's own path.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  try {
    return require(path.join(__dirname, 'ort', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    return require('onnxruntime-node');
  }
}

async function main() {
  const [model, inFile, hs, ws, ths, runsS, outFile] = process.argv.slice(2);
  if (!outFile) {
    console.error('usage: node ort_bench.js MODEL.onnx IN.f32 H W THREADS RUNS OUT.f32');
    process.exit(2);
  }
  const ort = loadOrt();
  const h = +hs, w = +ws, threads = +ths, runs = +runsS;
  const buf = fs.readFileSync(inFile);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  if (data.length !== 3 * h * w) throw new Error(`${inFile}: ${data.length} floats, want 3x${h}x${w}`);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all', executionMode: 'sequential',
    intraOpNumThreads: threads, interOpNumThreads: 1,
  });
  const createS = Number(process.hrtime.bigint() - t0) / 1e9;
  const feeds = {blur: new ort.Tensor('float32', data, [1, 3, h, w])};
  const ts = [];
  let out = null;
  for (let r = 0; r <= runs; r++) {
    const a = process.hrtime.bigint();
    const res = await session.run(feeds);
    const dt = Number(process.hrtime.bigint() - a) / 1e9;
    if (r) ts.push(dt);
    out = res.sharp.data;
  }
  fs.writeFileSync(outFile, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  const sorted = [...ts].sort((x, y) => x - y), n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  console.log(JSON.stringify({
    engine: 'onnxruntime-node', ort: ort.env.versions.common, threads, size: `${h}x${w}`,
    session_s: +createS.toFixed(3), infer_s: +median.toFixed(4), infer_runs_s: ts.map((v) => +v.toFixed(4)),
  }));
}

main().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
