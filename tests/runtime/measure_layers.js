// Runs a model in ONNX Runtime on i.i.d. N(0, input_std^2) inputs and writes, for every float
// output, the statistics pooled over all its elements (batch, features and positions together):
//   {"<output>": {"mean": m, "std": s, "second_moment": q, "count": n}, ...}
// With tests/audit/expose_outputs.py every node output is an output, so this measures each layer.
//
// usage: node measure_layers.js MODEL OUT.json [MODEL OUT.json ...] [--batch 256] [--seed S]
//                               [--input-std S]
//
// Several models in one run share the start-up of Node and ORT (most of a small model's cost) and
// get the same inputs. Symbolic (or unknown) dimensions are set to the batch size. The inputs are a
// pure function of (seed, input index, element index) -- see normalInputs -- so
// tests/audit/backprop.py regenerates exactly the same values and its numpy forward pass can be
// compared element for element.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function usage(message) {
  console.error(`measure_layers.js: ${message}`);
  console.error('usage: node measure_layers.js MODEL OUT.json [MODEL OUT.json ...] [--batch 256] [--seed S]'
    + ' [--input-std S]');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { batch: 256, seed: 0, inputStd: 1 };
  const positional = [];
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (!flag.startsWith('--')) {
      positional.push(flag);
      continue;
    }
    const key = { '--batch': 'batch', '--seed': 'seed', '--input-std': 'inputStd' }[flag];
    if (key === undefined || i + 1 >= argv.length) usage(`bad option ${flag}`);
    args[key] = Number(argv[(i += 1)]);
  }
  if (positional.length === 0 || positional.length % 2 !== 0) usage('expected MODEL OUT.json pairs');
  args.pairs = [];
  for (let i = 0; i < positional.length; i += 2) args.pairs.push([positional[i], positional[i + 1]]);
  if (!Number.isInteger(args.batch) || args.batch < 1) usage('--batch must be a positive integer');
  // The generator keys on a 32-bit seed; refusing others keeps Python's copy of it the same.
  if (!Number.isInteger(args.seed) || args.seed < 0 || args.seed >= 2 ** 32) {
    usage('--seed must be in [0, 2^32)');
  }
  if (!(args.inputStd > 0)) usage('--input-std must be positive');
  return args;
}

// MurmurHash3's 32-bit finalizer: a bijection with full avalanche, so hashing a counter gives
// independent-looking uniform words (a counter-based generator: any element can be computed alone,
// which lets numpy vectorize the same stream).
function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Element i of input k: word(j) = fmix32(key + j * 0x9e3779b9) with key = fmix32(fmix32(seed) + k);
// Box-Muller on the pair (word(2p), word(2p+1)) gives elements 2p (cosine) and 2p+1 (sine).
function normalInputs(size, seed, index, std) {
  const key = fmix32((fmix32(seed) + index) >>> 0);
  const word = (j) => fmix32((key + Math.imul(j, 0x9e3779b9)) >>> 0);
  const values = new Float32Array(size);
  for (let p = 0; 2 * p < size; p += 1) {
    const u1 = (word(2 * p) + 1) / 4294967296; // (0, 1]: the logarithm stays finite
    const u2 = word(2 * p + 1) / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    values[2 * p] = std * r * Math.cos(2 * Math.PI * u2);
    if (2 * p + 1 < size) values[2 * p + 1] = std * r * Math.sin(2 * Math.PI * u2);
  }
  return values;
}

// Two passes in double precision: the mean first, then the centered sum, so a std much smaller than
// the mean (a sigmoid's output) is not lost to cancellation.
function pooledStats(data) {
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < data.length; i += 1) {
    sum += data[i];
    sumSquares += data[i] * data[i];
  }
  const mean = sum / data.length;
  let centered = 0;
  for (let i = 0; i < data.length; i += 1) centered += (data[i] - mean) ** 2;
  const count = data.length;
  return { mean, std: Math.sqrt(centered / count), second_moment: sumSquares / count, count };
}

async function measure(model, out, args) {
  // One intra-op thread: ORT's pool spins while it waits, which on the 2-core test machine costs more
  // CPU than it saves; the statistics do not depend on it.
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const feeds = {};
  session.inputMetadata.forEach((meta, index) => {
    if (meta.type !== 'float32') {
      throw new Error(`input ${meta.name}: only float32 inputs are generated, not ${meta.type}`);
    }
    const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : args.batch));
    const size = dims.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new ort.Tensor('float32', normalInputs(size, args.seed, index, args.inputStd), dims);
  });
  const results = await session.run(feeds);
  const stats = {};
  for (const name of Object.keys(results).sort()) {
    if (results[name].type === 'float32') stats[name] = pooledStats(results[name].data);
  }
  fs.writeFileSync(out, `${JSON.stringify(stats, null, 1)}\n`);
  await session.release();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  for (const [model, out] of args.pairs) {
    await measure(model, out, args).catch((e) => {
      throw new Error(`${model}: ${e.message}`);
    });
  }
}

main().catch((e) => {
  console.error(`measure_layers.js: ${e.message}`);
  process.exit(1);
});
