// Runs each given model in ONNX Runtime on the same deterministic random inputs and prints, as JSON,
// each float output's min, max, mean and std per model: {model: {output: {min, max, mean, std}}}.
//
// usage: node output_ranges.js BATCH MODEL...
'use strict';
const ort = require('onnxruntime-node');

function makeFeeds(session, batch) {
  let state = 2024;  // the same inputs for every model: a small linear congruential generator
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (meta.type !== 'float32') throw new Error(`input ${meta.name}: only float32 inputs are generated`);
    const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : batch));
    const size = dims.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new ort.Tensor('float32', Float32Array.from({ length: size }, () => random() * 2 - 1), dims);
  }
  return feeds;
}

function stats(data) {
  let lo = Infinity, hi = -Infinity, sum = 0, sq = 0;
  for (const v of data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    sum += v;
  }
  const mean = sum / data.length;
  for (const v of data) sq += (v - mean) * (v - mean);
  return { min: lo, max: hi, mean, std: Math.sqrt(sq / data.length) };
}

async function main() {
  const [batch, ...models] = process.argv.slice(2);
  const result = {};
  for (const model of models) {
    const session = await ort.InferenceSession.create(model);
    const outputs = await session.run(makeFeeds(session, Number(batch)));
    result[model] = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      if (tensor.type === 'float32') result[model][name] = stats(tensor.data);
    }
  }
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
