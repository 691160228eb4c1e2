// Runs ONNX Runtime (npm onnxruntime-node) with its profiler on: RUNS runs
// of a batch, then prints the path of the profile (Chrome trace JSON).
// Usage: node ort_profile.js MODEL.onnx BATCH THREADS RUNS PREFIX
const ort = require('onnxruntime-node');

async function main() {
  const [model, batch, threads, runs, prefix] = process.argv.slice(2);
  const b = parseInt(batch, 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: parseInt(threads, 10), interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
    enableProfiling: true, profileFilePrefix: prefix,
  });
  const name = session.inputNames[0];
  const data = new Float32Array(b * 3 * 224 * 224).map((_, i) => Math.sin(i));
  const feeds = { [name]: new ort.Tensor('float32', data, [b, 3, 224, 224]) };
  for (let i = 0; i < parseInt(runs, 10); i++) {
    await session.run(feeds);
  }
  session.endProfiling();
}
main().catch((e) => { console.error(e); process.exit(1); });
