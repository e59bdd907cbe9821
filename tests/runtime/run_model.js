// Runs models in ONNX Runtime on given inputs and writes their outputs, so a test can compare ONNX
// Runtime with another implementation (tests/export_weights.py compares it with PyTorch).
//
// usage: node run_model.js MODEL IN.json OUT.json [MODEL IN.json OUT.json ...]
//   IN.json:  {"<input>": {"type": "float32" | "int64", "dims": [...], "data": [...]}, ...}
//   OUT.json: {"<output>": {"dims": [...], "data": [...]}, ...}
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

const kArrays = { float32: Float32Array, int64: BigInt64Array };

async function run(model, inPath, outPath) {
  const session = await ort.InferenceSession.create(model);
  const given = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  const feeds = {};
  for (const [name, t] of Object.entries(given)) {
    const Array_ = kArrays[t.type];
    if (Array_ === undefined) throw new Error(`input ${name}: unsupported type ${t.type}`);
    const data = t.type === 'int64' ? Array_.from(t.data, (v) => BigInt(v)) : Array_.from(t.data);
    feeds[name] = new ort.Tensor(t.type, data, t.dims);
  }
  const results = await session.run(feeds);
  const out = {};
  for (const [name, t] of Object.entries(results)) out[name] = { dims: t.dims, data: Array.from(t.data, Number) };
  fs.writeFileSync(outPath, JSON.stringify(out));
}

(async () => {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.length % 3 !== 0) {
    console.error('usage: node run_model.js MODEL IN.json OUT.json [MODEL IN.json OUT.json ...]');
    process.exit(2);
  }
  for (let i = 0; i < args.length; i += 3) await run(args[i], args[i + 1], args[i + 2]);
})().catch((e) => {
  console.error(`run_model.js: ${e.message}`);
  process.exit(1);
});
