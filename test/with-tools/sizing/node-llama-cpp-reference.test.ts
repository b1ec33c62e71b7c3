// The operator's own GGUF reader and memory estimate (src/sizing/) against node-llama-cpp's
// readGgufFileInfo + GgufInsights, the arithmetic the worker's runtime uses, on three heads: the
// test model (complete file), the first 95 MB of DeepSeek-R1-Distill-Qwen-7B Q4_K_M (a real qwen2
// head, truncated in its tensor data; scripts/fetch-sizing-fixture.sh) and a synthetic
// Qwen3-4B-shaped head. node-llama-cpp is the worker's package: the operator does not depend on
// it, this test only borrows it from worker/node_modules as the reference.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufInsights, readGgufFileInfo } from '../../../worker/node_modules/node-llama-cpp/dist/index.js';
import { readLocalFacts } from '../../../src/sizing/local.ts';
import { estimateMemory } from '../../../src/sizing/estimate.ts';
import { qwen3Shaped4B } from '../../support/gguf-writer.ts';

const MODELS = join(process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator'), 'models');
const GEMMA = join(MODELS, 'gemma-3-270m-q4_k_m.gguf');
const QWEN2_PART = join(MODELS, 'deepseek-r1-distill-qwen-7b-q4_k_m.part-0000.gguf');
let dir: string;
let QWEN3 = '';

beforeAll(() => {
  for (const f of [GEMMA, QWEN2_PART]) if (!existsSync(f)) throw new Error(`${f} is missing: run scripts/setup.sh (npm test runs it)`);
  dir = mkdtempSync(join(tmpdir(), 'sizing-'));
  QWEN3 = join(dir, 'qwen3-4b-shaped.gguf');
  writeFileSync(QWEN3, qwen3Shaped4B());
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const memo = new Map<string, Promise<unknown>>();
const once = <T>(key: string, f: () => Promise<T>): Promise<T> => {
  if (!memo.has(key)) memo.set(key, f());
  return memo.get(key) as Promise<T>;
};

const ours = (path: string) => once(`ours:${path}`, () => readLocalFacts(path));

/** Device memory of the worker's configuration (all layers on the GPU, flash attention, full SWA cache) by node-llama-cpp. */
async function reference(path: string, shapes: Array<[number, number]>) {
  const insights = await once(`insights:${path}`, async () => GgufInsights.from(await readGgufFileInfo(path, { logWarnings: false })));
  const gpuLayers = insights.totalLayers;
  const weights = insights.estimateModelResourceRequirements({ gpuLayers }).gpuVram;
  return {
    insights,
    weights,
    device: shapes.map(([contextSize, sequences]) => weights + insights.estimateContextResourceRequirements({ contextSize, sequences, modelGpuLayers: gpuLayers, flashAttention: true, swaFullCache: true }).gpuVram),
  };
}

const SHAPES: Array<[number, number]> = [[4096, 1], [8192, 4], [32768, 8]];

describe.each([
  ['gemma 3 270M Q4_K_M (the test model)', () => GEMMA, { architecture: 'gemma3', layers: 18, kvHeads: 1, headDim: 256, trainedContext: 32768 }],
  ['DeepSeek-R1-Distill-Qwen-7B Q4_K_M, first 95 MB', () => QWEN2_PART, { architecture: 'qwen2', layers: 28, kvHeads: 4, headDim: 128, trainedContext: 131072 }],
  ['synthetic Qwen3-4B shape', () => QWEN3, { architecture: 'qwen3', layers: 36, kvHeads: 8, headDim: 128, trainedContext: 262144 }],
])('%s', (_, path, expected) => {
  it('reads the facts node-llama-cpp reads', async () => {
    const facts = await ours(path());
    const { insights, weights } = await reference(path(), []);
    expect(facts).toMatchObject({ ...expected, quantization: 'Q4_K_M' });
    expect(facts.parameters).toBe(insights.totalParameters);
    expect(facts.weightsBytes).toBe(weights);
    expect(facts.layers).toBe(insights.totalLayers - 1); // node-llama-cpp counts the output layer too
    expect(facts.trainedContext).toBe(insights.trainContextSize);
  });

  it('estimates the device memory within 1% of node-llama-cpp for contextSize × parallel of 4096×1, 8192×4, 32768×8', async () => {
    const facts = await ours(path());
    const { device } = await reference(path(), SHAPES);
    SHAPES.forEach(([contextSize, parallel], i) => {
      const mine = estimateMemory(facts, { contextSize, parallel, kvCacheType: 'f16' }).device;
      expect(Math.abs(mine - device[i]!) / device[i]!).toBeLessThan(0.01);
    });
  });
});

it('gives the size of a complete file as the file system does', async () => {
  expect((await ours(GEMMA)).fileSize).toBe(statSync(GEMMA).size);
  // The truncated one: its head says how long the whole file is (DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf is 4.68 GB).
  expect((await ours(QWEN2_PART)).fileSize).toBeGreaterThan(statSync(QWEN2_PART).size * 40);
});
