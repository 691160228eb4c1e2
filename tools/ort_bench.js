// Times ONNX Runtime (npm onnxruntime-node) on an ONNX model: median
// milliseconds per batch. Usage: node ort_bench.js MODEL.onnx BATCH THREADS SECONDS
const ort = require('onnxruntime-node');

async function main() {
  const [model, batch, threads, seconds] = process.argv.slice(2);
  const b = parseInt(batch, 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: parseInt(threads, 10), interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const name = session.inputNames[0];
  const data = new Float32Array(b * 3 * 224 * 224).map((_, i) => Math.sin(i));
  const feeds = { [name]: new ort.Tensor('float32', data, [b, 3, 224, 224]) };
  await session.run(feeds); // warm-up
  const times = [];
  const start = Date.now();
  while (times.length < 5 || (Date.now() - start) / 1000 < parseFloat(seconds)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((x, y) => x - y);
  console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], runs: times.length }));
}
main().catch((e) => { console.error(e); process.exit(1); });
