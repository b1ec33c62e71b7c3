// Benchmark of the sizing decode bound (issue [Z], docs/sizing.md): on this machine, the CPU
// path's predicted decode bound for the test model (measured memory read bandwidth ÷ the weight
// bytes a decode step reads, src/sizing/) must be an upper bound of the measured decode speed and
// within 3× of it. Bandwidth: test/bench/membw.c (built here with gcc), a STREAM-like read with as
// many threads as the worker uses. Decode: node-llama-cpp in-process configured as the worker
// runs it (flash attention, one sequence, all CPUs), 128 greedy tokens after the first. Rounds
// interleave the two so background load hits both alike; the best of each is kept.
// Not a jest test (timings on shared cores). Run (after scripts/setup.sh):
//   ~/.cache/qwen-operator/node-24.22.3/bin/node test/bench/sizing.bench.ts [--rounds 3] [--tokens 128] [--threads N]
// Prints the figures and a JSON line (prefix BENCH_JSON); exits 1 when the bound does not hold.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel } from '../../worker/node_modules/node-llama-cpp/dist/index.js';
import { availableCpus } from '../../worker/src/cpus.ts';
import { readLocalFacts } from '../../src/sizing/local.ts';
import { decodeBound } from '../../src/sizing/estimate.ts';

const here = dirname(fileURLToPath(import.meta.url));
const cache = process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator');
const { values } = parseArgs({ options: { rounds: { type: 'string' }, tokens: { type: 'string' }, model: { type: 'string' }, threads: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const TOKENS = Number(values.tokens ?? 128);
const MODEL = values.model ?? join(cache, 'models', 'gemma-3-270m-q4_k_m.gguf');
// The worker's default (all CPUs); --threads 1 where other processes load the machine (llama.cpp's
// threads wait for each other at every op, which collapses under contention; one thread does not).
const THREADS = values.threads ? Number(values.threads) : availableCpus();

const dir = mkdtempSync(join(tmpdir(), 'membw-'));
const membw = join(dir, 'membw');
execFileSync('gcc', ['-O3', '-march=native', '-pthread', '-o', membw, join(here, 'membw.c')]);
const bandwidth = () => Number(execFileSync(membw, [String(THREADS), '1024', '5'], { encoding: 'utf8' }).trim());

const llama = await getLlama({ gpu: false, build: 'never', maxThreads: THREADS, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: MODEL, gpuLayers: 0 });
const context = await model.createContext({ sequences: 1, contextSize: 1024, threads: THREADS, flashAttention: true });
const seq = context.getSequence();

/** Tokens per second of the decode after the first token (which includes the prompt). */
async function decode(): Promise<number> {
  await seq.clearHistory();
  let n = 0;
  let t1 = 0;
  for await (const _ of seq.evaluate([model.tokens.bos!, ...model.tokenize('The history of the city of Rome begins', false)], { temperature: 0 })) {
    if (n === 0) t1 = performance.now();
    if (++n > TOKENS) break;
  }
  return TOKENS / ((performance.now() - t1) / 1000);
}

const bw: number[] = [];
const tps: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  bw.push(bandwidth());
  tps.push(await decode());
  process.stderr.write(`round ${r + 1}: ${bw.at(-1)!.toFixed(2)} GB/s, ${tps.at(-1)!.toFixed(1)} tok/s\n`);
}
await context.dispose();
await model.dispose();
await llama.dispose();
rmSync(dir, { recursive: true, force: true });

const facts = await readLocalFacts(MODEL);
const bestBw = Math.max(...bw);
const measured = Math.max(...tps);
const bound = decodeBound(facts, { contextSize: 1024, parallel: 1, kvCacheType: 'f16' }, { name: 'CPU', bandwidthGBps: bestBw }).tokensPerSecond;
const ok = bound >= measured && bound <= 3 * measured;
process.stdout.write([
  `threads ${THREADS}; read bandwidth ${bestBw.toFixed(2)} GB/s (best of ${bw.map((x) => x.toFixed(2)).join(', ')})`,
  `weights read per token ${(facts.decodeBytes / 1e6).toFixed(1)} MB (${facts.architecture} ${facts.quantization})`,
  `predicted decode bound ${bound.toFixed(1)} tok/s; measured ${measured.toFixed(1)} tok/s (best of ${tps.map((x) => x.toFixed(1)).join(', ')}); bound / measured ${(bound / measured).toFixed(2)}×`,
  `${ok ? 'OK' : 'FAIL'}: the bound must be ≥ the measured speed and ≤ 3× it`,
  `BENCH_JSON ${JSON.stringify({ threads: THREADS, bandwidthGBps: bestBw, decodeBytes: facts.decodeBytes, boundTps: bound, measuredTps: measured, ratio: bound / measured, bw, tps })}`,
].join('\n') + '\n');
process.exitCode = ok ? 0 : 1;
