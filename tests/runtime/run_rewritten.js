// Rewrites every model under the given directories with onnx-reinit and runs each rewritten model
// in ONNX Runtime on random inputs: the session must load, run, and give finite outputs.
//
// usage: node run_rewritten.js TOOL WORK_DIR MODEL_DIR...
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const ort = require('onnxruntime-node');

// Deterministic inputs: a small linear congruential generator, so a failure can be reproduced.
let state = 12345;
function random() {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
}

function makeInput(meta) {
  const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
  const size = dims.reduce((a, b) => a * b, 1);
  switch (meta.type) {
    case 'float32':
      return new ort.Tensor('float32', Float32Array.from({ length: size }, () => random() * 2 - 1), dims);
    case 'int64': // token ids and the like: small non-negative values
      return new ort.Tensor('int64', BigInt64Array.from({ length: size }, () => BigInt(Math.floor(random() * 4))), dims);
    case 'bool':
      return new ort.Tensor('bool', Uint8Array.from({ length: size }, () => 1), dims);
    default:
      throw new Error(`input ${meta.name}: no generator for type ${meta.type}`);
  }
}

async function check(model, tool, workDir) {
  const out = path.join(workDir, path.basename(model));
  const run = spawnSync(tool, ['rewrite', model, '-o', out, '--seed', '5'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`onnx-reinit exited ${run.status}: ${run.stderr.trim()}`);
  const session = await ort.InferenceSession.create(out);
  const feeds = {};
  for (const meta of session.inputMetadata) feeds[meta.name] = makeInput(meta);
  const results = await session.run(feeds);
  for (const [name, tensor] of Object.entries(results)) {
    if (tensor.type !== 'float32') continue;
    const bad = tensor.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`output ${name}[${bad}] = ${tensor.data[bad]}`);
  }
}

async function main() {
  const [tool, workDir, ...modelDirs] = process.argv.slice(2);
  fs.mkdirSync(workDir, { recursive: true });
  const models = modelDirs.flatMap((dir) =>
    fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort().map((f) => path.join(dir, f)));
  let passed = 0;
  let failed = 0;
  for (const model of models) {
    try {
      await check(model, tool, workDir);
      passed += 1;
      console.log(`ok      ${model}`);
    } catch (e) {
      failed += 1;
      console.log(`FAILED  ${model}: ${e.message}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main();
