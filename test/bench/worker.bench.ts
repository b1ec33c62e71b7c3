// Benchmark of the worker (issues [W], [X]): this worker over HTTP vs node-llama-cpp in-process (the
// library driven its default way) vs llama.cpp's llama-server built from the same llama.cpp sources
// (worker/scripts/build-llama-server.sh; skipped when not built). Same model,
// same prompts, greedy, same max tokens, rounds interleaved so background load hits all alike.
// A second part replays multi-turn chats (a ~1,000-token system prompt, 5 user turns, c=1 and
// c=4) and reports TTFT per turn: with prompt-prefix reuse, turns 2+ evaluate only their new suffix.
// A third part ([K]) interleaves more conversations than sequences (16 on 4), one request at a time
// and 4 at once, so a conversation's prefix survives only through the sequence choice and the host
// prompt cache (the worker runs with --prompt-cache-bytes; llama-server with its --cache-ram).
// `--baseline DIR` adds another checkout's worker (e.g. the commit before a change) to the decode
// part, so a regression is measured on the same machine in the same minutes; `--no-cache-worker`
// adds this worker without its host prompt cache (what the cache itself costs the decode);
// `--no-in-process` leaves node-llama-cpp in-process out of it (slow under load, not a peer). The
// decode contenders' order turns by one each round, and each round's worker/peer ratio is printed:
// on shared cores the load drifts within a round, and a fixed order would charge it to one side.
// Not a jest test. Run (after scripts/setup.sh):
// `--part copy` ([P3]) has the answer copy its 3-paragraph prompt (200 greedy tokens, one request at
// a time): this worker (prompt-lookup decoding on, `auto`) and without it, against llama-server
// without and with each draft-free `--spec-type`; tokens/s after the first token, the same text.
//   ~/.cache/qwen-operator/node-24.22.3/bin/node test/bench/worker.bench.ts [--rounds 3] [--tokens 128] [--part all|decode|multiturn|interleaved|copy] [--baseline DIR]
// Prints a table and a JSON line (prefix BENCH_JSON).
import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel } from '../../worker/node_modules/node-llama-cpp/dist/index.js';
import type { LlamaContextSequence, LlamaModel } from '../../worker/node_modules/node-llama-cpp/dist/index.js';
import { availableCpus } from '../../worker/src/cpus.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator');
const { values } = parseArgs({ options: { rounds: { type: 'string' }, tokens: { type: 'string' }, model: { type: 'string' }, scrapes: { type: 'string' }, part: { type: 'string' }, concurrency: { type: 'string' }, baseline: { type: 'string' }, 'no-cache-worker': { type: 'boolean' }, 'no-in-process': { type: 'boolean' }, threads: { type: 'string' } } });
const PART = values.part ?? 'all';
const ROUNDS = Number(values.rounds ?? 3);
const TOKENS = Number(values.tokens ?? 128);
const SCRAPES = Number(values.scrapes ?? 200);
const MODEL = values.model ?? join(cache, 'models', 'gemma-3-270m-q4_k_m.gguf');
// `--threads N` for every contender (default: the CPUs available). On cores shared with other jobs,
// 1 avoids llama.cpp's threads spinning at a barrier for a descheduled peer (rounds 10x slower).
const THREADS = values.threads ? Number(values.threads) : availableCpus();
const CONC = (values.concurrency ?? '1,4').split(',').map(Number);
const PROMPTS = [
  'The history of the city of Rome begins',
  'In a small village at the edge of the forest there lived',
  'The most important idea in modern physics is',
  'Here is a recipe for a simple vegetable soup:',
];

type Run = { tokens: number; wallMs: number; ttftMs: number[] };
const results: Record<string, Record<number, Run[]>> = {};
const record = (name: string, conc: number, r: Run) => { ((results[name] ??= {})[conc] ??= []).push(r); };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

// --- in-process node-llama-cpp driven the library's default way (no lockstep, this process's libuv
// pool), minus HTTP: the floor the worker started from ---
async function rawSetup() {
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: THREADS, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: MODEL, gpuLayers: 0 });
  const context = await model.createContext({ sequences: 4, contextSize: 1024, threads: THREADS, flashAttention: false });
  const seqs = Array.from({ length: 4 }, () => context.getSequence());
  return { llama, model, context, seqs };
}

async function rawOne(model: LlamaModel, seq: LlamaContextSequence, prompt: string, t0: number) {
  const toks = model.tokenize(prompt, false);
  await seq.clearHistory();
  let n = 0;
  let ttft = NaN;
  for await (const tok of seq.evaluate([model.tokens.bos!, ...toks], { temperature: 0 })) {
    if (n === 0) ttft = performance.now() - t0;
    model.detokenize([tok], false);
    if (++n >= TOKENS) break;
  }
  return { n, ttft };
}

// --- an OpenAI-compatible server over HTTP (this worker, or llama-server) ---
async function httpOne(base: string, prompt: string, t0: number, extra: Record<string, unknown>) {
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true }, ...extra }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = NaN;
  let last = NaN;
  let n = 0;
  let chunks = 0;
  let all = '';
  let buf = '';
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part as Uint8Array, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { choices?: { text?: string; delta?: { content?: string } }[]; usage?: { completion_tokens: number } | null; content?: string; tokens_predicted?: number };
      const text = j.choices?.[0]?.text ?? j.choices?.[0]?.delta?.content;
      if (text) {
        chunks++;
        all += text;
        last = performance.now() - t0;
        if (Number.isNaN(ttft)) ttft = last;
      }
      if (j.usage) n = j.usage.completion_tokens;
    }
  }
  return { n: n || chunks, ttft, last, text: all };
}

async function concurrent(conc: number, one: (i: number, t0: number) => Promise<{ n: number; ttft: number }>): Promise<Run> {
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: conc }, (_, i) => one(i, performance.now())));
  return { tokens: rs.reduce((a, r) => a + r.n, 0), wallMs: performance.now() - t0, ttftMs: rs.map((r) => r.ttft) };
}

// --- multi-turn chat: TTFT per turn over a growing history sharing a long system prompt ---
const SYSTEM = `You are the assistant of the city library. ${Array.from({ length: 40 }, (_, i) => `Rule ${i + 1}: the library's section ${i + 1} opens at ${8 + (i % 4)} o'clock, lends up to ${3 + (i % 5)} items and asks for quiet.`).join(' ')}`;
const TURNS = ['When does section 3 open?', 'How many items can I borrow there?', 'And in section 12?', 'Is it quiet?', 'Thank you, anything else?'];
const MT_TOKENS = 24;
type Msg = { role: 'system' | 'user' | 'assistant'; content: string };

// --- interleaved conversations: more than the sequences, so each must find its prefix again ---
const IL_CONVERSATIONS = 16;
const IL_TURNS = 3;
/** Host prompt cache of the worker, and llama-server's --cache-ram: the same budget. */
const CACHE_MIB = 1024;

// --- copy-heavy workload ([P3]): the answer copies its prompt, where prompt-lookup decoding pays ---
const COPY_TEXT = [
  'The river town of Ashford grew up around a wooden bridge that merchants crossed on their way to the coast. In the spring the water rose over the lower streets, and the families who lived there moved their goods to the upper floors until the flood went down again.',
  'By the end of the century the bridge had been replaced by one of stone, and a railway station was built on the northern bank. Mills opened along the water, and the population doubled within twenty years as workers arrived from the villages of the valley.',
  'Today the mills are museums and apartments, the station still has four trains an hour to the city, and the old bridge is remembered by a plaque on the wall of the market hall. Visitors come for the walks along the river and the Saturday market in the square.',
].join('\n\n');
// The test model is a base model: one example pair makes it copy.
const COPY_PROMPT = `Copy the text exactly.\n\nText:\nThe cat sat on the mat. It was warm.\n\nCopy:\nThe cat sat on the mat. It was warm.\n\nText:\n${COPY_TEXT}\n\nCopy:\n`;
const COPY_TOKENS = 200;
/** llama-server's draft-free speculative decoding types (no draft model), at their defaults. */
const SPEC_TYPES = ['ngram-simple', 'ngram-map-k'];

/**
 * `IL_CONVERSATIONS` conversations, `clients` requests in flight: client k owns conversations k,
 * k + clients, ...; each client plays turn t of each of its conversations, then turn t + 1. With one
 * client every request follows one of another conversation.
 */
async function interleaved(base: string, clients: number): Promise<{ ttft: number[][]; cached: (number | undefined)[][] }> {
  const ttft: number[][] = Array.from({ length: IL_TURNS }, () => []);
  const cached: (number | undefined)[][] = Array.from({ length: IL_TURNS }, () => []);
  const histories: Msg[][] = Array.from({ length: IL_CONVERSATIONS }, () => [{ role: 'system', content: SYSTEM }]);
  await Promise.all(Array.from({ length: clients }, async (_, k) => {
    for (let t = 0; t < IL_TURNS; t++) {
      for (let c = k; c < IL_CONVERSATIONS; c += clients) {
        const h = histories[c]!;
        h.push({ role: 'user', content: `${TURNS[t % TURNS.length]} (visitor ${c + 1})` });
        const r = await chatOne(base, h, performance.now());
        ttft[t]!.push(r.ttft);
        cached[t]!.push(r.cached);
        h.push({ role: 'assistant', content: r.text });
      }
    }
  }));
  return { ttft, cached };
}

async function chatOne(base: string, messages: Msg[], t0: number): Promise<{ text: string; ttft: number; cached: number | undefined }> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages, max_tokens: MT_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = NaN;
  let text = '';
  let cached: number | undefined;
  let buf = '';
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part as Uint8Array, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { choices?: { delta?: { content?: string } }[]; usage?: { prompt_tokens_details?: { cached_tokens?: number } } | null };
      const c = j.choices?.[0]?.delta?.content;
      if (c) { text += c; if (Number.isNaN(ttft)) ttft = performance.now() - t0; }
      if (j.usage) cached = j.usage.prompt_tokens_details?.cached_tokens;
    }
  }
  return { text, ttft, cached };
}

/** `conc` conversations at once, turn by turn; TTFT (ms) per turn index. */
async function multiTurn(base: string, conc: number): Promise<{ ttft: number[][]; cached: (number | undefined)[][] }> {
  const ttft: number[][] = TURNS.map(() => []);
  const cached: (number | undefined)[][] = TURNS.map(() => []);
  await Promise.all(Array.from({ length: conc }, async (_, c) => {
    const history: Msg[] = [{ role: 'system', content: SYSTEM }];
    for (const [t, q] of TURNS.entries()) {
      history.push({ role: 'user', content: `${q} (visitor ${c + 1})` });
      const r = await chatOne(base, history, performance.now());
      ttft[t]!.push(r.ttft);
      cached[t]!.push(r.cached);
      history.push({ role: 'assistant', content: r.text });
    }
  }));
  return { ttft, cached };
}

// Each peer's stderr tail, to say why it died when a request to it fails mid-run.
const stderrOf = new Map<ReturnType<typeof spawn>, () => string>();

async function startServer(cmd: string, args: string[], readyUrl: string) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-8000); });
  stderrOf.set(proc, () => err);
  for (let i = 0; ; i++) {
    // A peer killed by a signal (SIGILL from an AMX instruction on these VMs) says so, at once.
    if (proc.signalCode !== null) throw new Error(`${cmd} was killed by ${proc.signalCode}: ${err.slice(-2000)}`);
    if (proc.exitCode !== null) throw new Error(`${cmd} exited: ${err.slice(-2000)}`);
    const r = await fetch(readyUrl).catch(() => undefined);
    if (r?.status === 200) break;
    if (i > 1200) throw new Error(`${cmd} not ready`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return proc;
}

const WORKER_PORT = 18931;
const LLAMA_SERVER_PORT = 18932;
const BASELINE_PORT = 18933;
const NO_LOOKUP_PORT = 18935;
const LOOKUP_PORT = 18936;
const lookupUrl = `http://127.0.0.1:${LOOKUP_PORT}`;
/** One llama-server per --spec-type of the copy part (and one without), from this port up. */
const COPY_LLAMA_SERVER_PORT = 18940;
const NO_CACHE_PORT = 18934;
const noCacheUrl = `http://127.0.0.1:${NO_CACHE_PORT}`;
const baselineUrl = `http://127.0.0.1:${BASELINE_PORT}`;
const workerUrl = `http://127.0.0.1:${WORKER_PORT}`;
const llamaServerBin = join(process.env.QWEN_BIN ?? join(cache, 'bin'), 'llama-server');
const llamaServerUrl = `http://127.0.0.1:${LLAMA_SERVER_PORT}`;

console.error(`model ${MODEL}\nthreads ${THREADS}, ${TOKENS} tokens, greedy, rounds ${ROUNDS}, concurrency ${CONC.join(',')}`);
const raw = await rawSetup();
// The host prompt cache on a tmpfs, as a pod's memory-backed emptyDir.
const promptCacheDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'qwen-bench-prompt-cache-'));
const workerArgs = ['--model', MODEL, '--host', '127.0.0.1', '--parallel', '4', '--context-size', '4096', '--gpu', 'false', '--log-level', 'warn', '--threads', String(THREADS)];
const worker = await startServer(join(root, 'worker', 'bin', 'qwen-worker'),
  [...workerArgs, '--port', String(WORKER_PORT), '--prompt-cache-bytes', String(CACHE_MIB * 2 ** 20), '--prompt-cache-dir', promptCacheDir],
  `${workerUrl}/readyz`);
const baseline = values.baseline
  ? await startServer(join(values.baseline, 'worker', 'bin', 'qwen-worker'), [...workerArgs, '--port', String(BASELINE_PORT)], `${baselineUrl}/readyz`)
  : undefined;
const noCache = values['no-cache-worker']
  ? await startServer(join(root, 'worker', 'bin', 'qwen-worker'), [...workerArgs, '--port', String(NO_CACHE_PORT)], `${noCacheUrl}/readyz`)
  : undefined;
let llamaServer: ReturnType<typeof spawn> | undefined;
if (existsSync(llamaServerBin)) {
  // Its best settings for multi-turn traffic, where this build has them: --cache-reuse (reuse KV
  // chunks after a shifted prefix) and --cache-ram (its host-memory prompt cache, the worker's
  // budget); the slot choice by prompt similarity is its default.
  const help = spawnSync(llamaServerBin, ['--help'], { encoding: 'utf8' }).stdout ?? '';
  const best = [...(help.includes('--cache-reuse') ? ['--cache-reuse', '256'] : []), ...(help.includes('--cache-ram') ? ['--cache-ram', String(CACHE_MIB)] : [])];
  const version = spawnSync(llamaServerBin, ['--version'], { encoding: 'utf8' });
  console.error(`llama-server ${`${version.stdout ?? ''}${version.stderr ?? ''}`.trim().split('\n')[0] ?? ''} ${best.join(' ')}`);
  // -c is shared by the -np slots: 4 × 4096, the worker's per-sequence context.
  llamaServer = await startServer(llamaServerBin, ['-m', MODEL, '--host', '127.0.0.1', '--port', String(LLAMA_SERVER_PORT), '-np', '4', '-c', '16384',
    '-t', String(THREADS), '--no-webui', '--log-disable', ...best], `${llamaServerUrl}/health`);
} else {
  console.error(`llama-server not found at ${llamaServerBin}: skipped (bash worker/scripts/build-llama-server.sh builds it)`);
}
// Copy part: this worker with `--prompt-lookup auto` (its own process: the other parts measure the
// default, off) and without it (the same output, the plain speed), and llama-server with one slot,
// without and with each draft-free --spec-type.
const copyPeers: { name: string; url: string; proc: ReturnType<typeof spawn> }[] = [];
let lookupWorker: ReturnType<typeof spawn> | undefined;
if (PART === 'all' || PART === 'copy') {
  lookupWorker = await startServer(join(root, 'worker', 'bin', 'qwen-worker'), [...workerArgs, '--port', String(LOOKUP_PORT), '--prompt-lookup', 'auto'], `${lookupUrl}/readyz`);
  const url = `http://127.0.0.1:${NO_LOOKUP_PORT}`;
  copyPeers.push({ name: 'qwen-worker, lookup off', url, proc: await startServer(join(root, 'worker', 'bin', 'qwen-worker'), [...workerArgs, '--port', String(NO_LOOKUP_PORT), '--prompt-lookup', 'off'], `${url}/readyz`) });
  if (existsSync(llamaServerBin)) {
    for (const [i, spec] of ['', ...SPEC_TYPES].entries()) {
      const port = COPY_LLAMA_SERVER_PORT + i;
      const u = `http://127.0.0.1:${port}`;
      const proc = await startServer(llamaServerBin, ['-m', MODEL, '--host', '127.0.0.1', '--port', String(port), '-np', '1', '-c', '4096', '-t', String(THREADS),
        '--no-webui', '--log-disable', ...(spec ? ['--spec-type', spec] : [])], `${u}/health`);
      copyPeers.push({ name: spec ? `llama-server --spec-type ${spec}` : 'llama-server default', url: u, proc });
    }
  }
}

try {
  // Warm-up each.
  if (!values['no-in-process']) await rawOne(raw.model, raw.seqs[0]!, PROMPTS[0]!, performance.now());
  await httpOne(workerUrl, PROMPTS[0]!, performance.now(), {});
  if (baseline) await httpOne(baselineUrl, PROMPTS[0]!, performance.now(), {});
  if (noCache) await httpOne(noCacheUrl, PROMPTS[0]!, performance.now(), {});
  if (llamaServer) await httpOne(llamaServerUrl, PROMPTS[0]!, performance.now(), { n_predict: TOKENS, ignore_eos: false, cache_prompt: false });
  for (let r = 0; r < (PART === 'all' || PART === 'decode' ? ROUNDS : 0); r++) {
    for (const conc of CONC) {
      // A prompt no earlier round sent: each request leaves a new state, which a worker with the
      // host cache saves at its end while the others decode (as with real traffic); repeated
      // prompts would be saved once and hide that cost.
      const prompt = (i: number) => `Part ${r + 1}.${conc}. ${PROMPTS[i % PROMPTS.length]!}`;
      const contenders: (readonly [string, (i: number, t0: number) => Promise<{ n: number; ttft: number }>])[] = [
        ...(values['no-in-process'] ? [] : [['node-llama-cpp in-process', (i: number, t0: number) => rawOne(raw.model, raw.seqs[i]!, prompt(i), t0)] as const]),
        ['qwen-worker HTTP', (i, t0) => httpOne(workerUrl, prompt(i), t0, {})],
        ...(noCache ? [['qwen-worker HTTP, no host cache', (i: number, t0: number) => httpOne(noCacheUrl, prompt(i), t0, {})] as const] : []),
        ...(baseline ? [['baseline worker HTTP', (i: number, t0: number) => httpOne(baselineUrl, prompt(i), t0, {})] as const] : []),
        ...(llamaServer ? [['llama-server HTTP', (i: number, t0: number) => httpOne(llamaServerUrl, prompt(i), t0, { cache_prompt: false })] as const] : []),
      ];
      for (let k = 0; k < contenders.length; k++) {
        const [name, one] = contenders[(k + r) % contenders.length]!;
        record(name, conc, await concurrent(conc, one));
      }
      console.error(`round ${r + 1} c${conc} done`);
    }
  }
  // Multi-turn chats, llama-server with its defaults (prompt cache on).
  const mt: Record<string, { ttft: number[][]; cached: (number | undefined)[][] }> = {};
  if (PART === 'all' || PART === 'multiturn') {
    for (let r = 0; r < ROUNDS; r++) {
      for (const conc of CONC) {
        const peers: [string, string][] = [['qwen-worker HTTP', workerUrl], ...(llamaServer ? [['llama-server HTTP', llamaServerUrl] as [string, string]] : [])];
        for (const [name, url] of peers) {
          const m = await multiTurn(url, conc);
          const acc = (mt[`${name} c${conc}`] ??= { ttft: TURNS.map(() => []), cached: TURNS.map(() => []) });
          m.ttft.forEach((xs, t) => acc.ttft[t]!.push(...xs));
          m.cached.forEach((xs, t) => acc.cached[t]!.push(...xs));
        }
        console.error(`multi-turn round ${r + 1} c${conc} done`);
      }
    }
  }
  // Interleaved conversations, one round (each is IL_CONVERSATIONS × IL_TURNS requests per peer).
  const il: Record<string, { ttft: number[][]; cached: (number | undefined)[][] }> = {};
  const coldTtft: Record<string, number[]> = {};
  if (PART === 'all' || PART === 'interleaved') {
    // Cold: a prompt of the same size that no cache holds (the system prompt behind a fresh nonce).
    for (let i = 0; i < 3; i++) {
      const peers: [string, string][] = [['qwen-worker HTTP', workerUrl], ...(llamaServer ? [['llama-server HTTP', llamaServerUrl] as [string, string]] : [])];
      for (const [name, url] of peers) {
        const r = await chatOne(url, [{ role: 'system', content: `Session ${name.length}-${i}-${Math.random()}. ${SYSTEM}` }, { role: 'user', content: TURNS[0]! }], performance.now());
        (coldTtft[name] ??= []).push(r.ttft);
      }
    }
    for (const conc of CONC) {
      const peers: [string, string][] = [['qwen-worker HTTP', workerUrl], ...(llamaServer ? [['llama-server HTTP', llamaServerUrl] as [string, string]] : [])];
      for (const [name, url] of peers) il[`${name} c${conc}`] = await interleaved(url, conc);
      console.error(`interleaved c${conc} done`);
    }
  }
  // Copy-heavy: one request at a time, 200 greedy tokens, tokens/s after the first token (the
  // prompt's evaluation is TTFT's, and the worker reuses the prompt's state across rounds).
  const copy: Record<string, { tps: number[]; ttft: number[]; texts: string[] }> = {};
  if (PART === 'all' || PART === 'copy') {
    const contenders = [{ name: 'qwen-worker HTTP', url: lookupUrl }, ...copyPeers];
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const { name, url } = contenders[(k + r) % contenders.length]!;
        const x = await httpOne(url, COPY_PROMPT, performance.now(), { max_tokens: COPY_TOKENS });
        const acc = (copy[name] ??= { tps: [], ttft: [], texts: [] });
        acc.tps.push((x.n - 1) / ((x.last - x.ttft) / 1000));
        acc.ttft.push(x.ttft);
        acc.texts.push(x.text);
      }
      console.error(`copy round ${r + 1} done`);
    }
  }
  const workerMetrics = await (await fetch(`${workerUrl}/metrics`)).text();
  // /metrics scrape time (after the traffic above, so the histograms are populated).
  const scrape: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    await (await fetch(`${workerUrl}/metrics`)).text();
    scrape.push(performance.now() - t0);
  }

  const summary: Record<string, unknown> = { threads: THREADS, tokens: TOKENS, rounds: ROUNDS };
  const rows: string[] = [];
  const tps = (name: string, conc: number) => {
    const runs = results[name]?.[conc];
    if (!runs) return NaN;
    return runs.reduce((a, r) => a + r.tokens, 0) / (runs.reduce((a, r) => a + r.wallMs, 0) / 1000);
  };
  for (const name of Object.keys(results)) {
    for (const conc of CONC) {
      const runs = results[name]![conc]!;
      const ttft = runs.flatMap((r) => r.ttftMs);
      const perRound = runs.map((r) => (r.tokens / r.wallMs) * 1000);
      const row = { tokensPerS: tps(name, conc), perRound, ttftP50Ms: pct(ttft, 50), ttftP95Ms: pct(ttft, 95) };
      summary[`${name} c${conc}`] = row;
      rows.push(`${name.padEnd(28)} c${conc}  ${row.tokensPerS.toFixed(1).padStart(7)} tok/s  (rounds: ${perRound.map((x) => x.toFixed(1)).join(' ')})  TTFT p50 ${row.ttftP50Ms.toFixed(1)} ms  p95 ${row.ttftP95Ms.toFixed(1)} ms`);
    }
  }
  const mtRows: string[] = [];
  for (const [key, m] of Object.entries(mt)) {
    const perTurn = m.ttft.map((xs) => ({ p50: pct(xs, 50), p95: pct(xs, 95) }));
    summary[`multi-turn ${key}`] = { perTurn, cached: m.cached.map((xs) => pct(xs.filter((x) => x !== undefined), 50)) };
    mtRows.push(`multi-turn ${key.padEnd(22)} TTFT p50/p95 ms per turn: ${perTurn.map((x, t) => `t${t + 1} ${x.p50.toFixed(0)}/${x.p95.toFixed(0)}`).join('  ')}` +
      `  (cached p50: ${m.cached.map((xs) => pct(xs.filter((x) => x !== undefined), 50)).join(',')})`);
  }
  summary.coldTtftMs = coldTtft;
  mtRows.push(...Object.entries(coldTtft).map(([name, xs]) => `cold ${name.padEnd(20)} TTFT p50 ${pct(xs, 50).toFixed(0)} ms`));
  for (const [key, m] of Object.entries(il)) {
    const perTurn = m.ttft.map((xs) => ({ p50: pct(xs, 50), p95: pct(xs, 95) }));
    const late = m.ttft.slice(1).flat();
    const cachedP50 = m.cached.map((xs) => pct(xs.filter((x) => x !== undefined), 50));
    summary[`interleaved ${key}`] = { perTurn, turns2plus: { p50: pct(late, 50), p95: pct(late, 95) }, cached: cachedP50 };
    mtRows.push(`interleaved ${IL_CONVERSATIONS} convs ${key.padEnd(20)} TTFT p50/p95 ms per turn: ${perTurn.map((x, t) => `t${t + 1} ${x.p50.toFixed(0)}/${x.p95.toFixed(0)}`).join('  ')}` +
      `  turns 2+ ${pct(late, 50).toFixed(0)}/${pct(late, 95).toFixed(0)}  (cached p50: ${cachedP50.join(',')})`);
  }
  const ratios: Record<string, number> = {};
  for (const conc of CONC) {
    const w = il[`qwen-worker HTTP c${conc}`];
    const l = il[`llama-server HTTP c${conc}`];
    const late = (m: { ttft: number[][] }) => m.ttft.slice(1).flat();
    if (w && l) {
      ratios[`interleaved TTFT p50 turns 2+ worker/llama-server c${conc}`] = pct(late(w), 50) / pct(late(l), 50);
      ratios[`interleaved TTFT p95 turns 2+ worker/llama-server c${conc}`] = pct(late(w), 95) / pct(late(l), 95);
    }
    for (const [name, m] of [['worker', w], ['llama-server', l]] as const) {
      const cold = coldTtft[name === 'worker' ? 'qwen-worker HTTP' : 'llama-server HTTP'];
      if (m && cold) ratios[`interleaved TTFT p95 turns 2+ / cold p50, ${name} c${conc}`] = pct(late(m), 95) / pct(cold, 50);
    }
  }
  const copyRows: string[] = [];
  if (Object.keys(copy).length > 0) {
    const med = (name: string) => pct(copy[name]?.tps ?? [], 50);
    const w = copy['qwen-worker HTTP']!;
    for (const [name, c] of Object.entries(copy)) {
      summary[`copy ${name}`] = { tokensPerSMedian: med(name), perRound: c.tps, ttftP50Ms: pct(c.ttft, 50) };
      copyRows.push(`copy ${name.padEnd(34)} ${med(name).toFixed(1).padStart(7)} tok/s median  (rounds: ${c.tps.map((x) => x.toFixed(1)).join(' ')})  TTFT p50 ${pct(c.ttft, 50).toFixed(0)} ms` +
        `  same text as the worker: ${c.texts.every((t) => t === w.texts[0]) ? 'yes' : `no (${c.texts.filter((t) => t === w.texts[0]).length}/${c.texts.length})`}`);
    }
    for (const name of Object.keys(copy).filter((n) => n !== 'qwen-worker HTTP')) ratios[`copy worker/${name}`] = med('qwen-worker HTTP') / med(name);
    const specs = Object.keys(copy).filter((n) => n.includes('--spec-type'));
    if (specs.length > 0) {
      const fastest = specs.reduce((a, b) => (med(b) > med(a) ? b : a));
      ratios[`copy worker/fastest spec-type (${fastest})`] = med('qwen-worker HTTP') / med(fastest);
    }
    // Round by round against the same round's fastest draft-free llama-server.
    const perRound = w.tps.map((x, i) => x / Math.max(...specs.map((n) => copy[n]!.tps[i]!)));
    if (specs.length > 0) copyRows.push(`copy worker / fastest spec-type per round: ${perRound.map((x) => x.toFixed(2)).join(' ')}`);
    copyRows.push(`copy text (worker): ${JSON.stringify(w.texts[0]!.slice(0, 160))}...`);
    copyRows.push(...(await (await fetch(`${lookupUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('gen_ai_server_speculative_')));
  }
  const cacheSeries = workerMetrics.split('\n').filter((l) => l.startsWith('gen_ai_server_prompt_cache_'));
  summary.workerPromptCache = cacheSeries;
  for (const conc of CONC) {
    const w = mt[`qwen-worker HTTP c${conc}`];
    const l = mt[`llama-server HTTP c${conc}`];
    if (w && l) {
      // Turns 2+: where the prefix is reused; ≤ 1.0 is the target.
      const late = (m: { ttft: number[][] }) => m.ttft.slice(1).flat();
      ratios[`multi-turn TTFT p50 turns 2+ worker/llama-server c${conc}`] = pct(late(w), 50) / pct(late(l), 50);
      ratios[`multi-turn TTFT p95 turns 2+ worker/llama-server c${conc}`] = pct(late(w), 95) / pct(late(l), 95);
    }
  }
  for (const conc of CONC) {
    if (!results['qwen-worker HTTP']) break;
    if (results['node-llama-cpp in-process']) ratios[`worker/raw c${conc}`] = tps('qwen-worker HTTP', conc) / tps('node-llama-cpp in-process', conc);
    if (llamaServer) ratios[`worker/llama-server c${conc}`] = tps('qwen-worker HTTP', conc) / tps('llama-server HTTP', conc);
    if (baseline) ratios[`worker/baseline worker c${conc}`] = tps('qwen-worker HTTP', conc) / tps('baseline worker HTTP', conc);
    if (noCache) ratios[`worker/worker without host cache c${conc}`] = tps('qwen-worker HTTP', conc) / tps('qwen-worker HTTP, no host cache', conc);
    if (noCache && baseline) ratios[`worker without host cache/baseline worker c${conc}`] = tps('qwen-worker HTTP, no host cache', conc) / tps('baseline worker HTTP', conc);
  }
  // Round by round (the load drifts between rounds, less within one): the median is the robust figure.
  const pairs: [string, string, string][] = [
    ['worker/baseline', 'qwen-worker HTTP', 'baseline worker HTTP'],
    ['worker/no host cache', 'qwen-worker HTTP', 'qwen-worker HTTP, no host cache'],
    ['no host cache/baseline', 'qwen-worker HTTP, no host cache', 'baseline worker HTTP'],
    ['worker/llama-server', 'qwen-worker HTTP', 'llama-server HTTP'],
  ];
  const perRoundRatios: string[] = [];
  for (const conc of CONC) {
    for (const [label, a, b] of pairs) {
      const ra = results[a]?.[conc];
      const rb = results[b]?.[conc];
      if (!ra || !rb) continue;
      const rs = ra.map((x, i) => (x.tokens / x.wallMs) / (rb[i]!.tokens / rb[i]!.wallMs));
      summary[`per-round ${label} c${conc}`] = rs;
      perRoundRatios.push(`per round ${label} c${conc}: ${rs.map((x) => x.toFixed(2)).join(' ')}  (median ${pct(rs, 50).toFixed(3)}x)`);
    }
  }
  summary.ratios = ratios;
  summary.scrapeMs = { p50: pct(scrape, 50), p95: pct(scrape, 95), max: Math.max(...scrape) };
  console.log([...rows, ...mtRows, ...copyRows].join('\n'));
  console.log(Object.entries(ratios).map(([k, v]) => `${k}: ${v.toFixed(3)}x`).join('\n'));
  if (perRoundRatios.length > 0) console.log(perRoundRatios.join('\n'));
  console.log(cacheSeries.join('\n'));
  console.log(`/metrics scrape: p50 ${pct(scrape, 50).toFixed(2)} ms, p95 ${pct(scrape, 95).toFixed(2)} ms`);
  console.log(`BENCH_JSON ${JSON.stringify(summary)}`);
} catch (e) {
  // A failed request usually means a peer died: name it, with its exit status and stderr.
  await new Promise((r) => setTimeout(r, 200));
  const peers: [string, ReturnType<typeof spawn> | undefined][] = [['qwen-worker', worker], ['baseline worker', baseline], ['worker without host cache', noCache],
    ['llama-server', llamaServer], ['qwen-worker, lookup auto', lookupWorker], ...copyPeers.map((p): [string, ReturnType<typeof spawn>] => [p.name, p.proc])];
  for (const [name, proc] of peers) {
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
      console.error(`${name} died (${proc.signalCode ?? `exit ${proc.exitCode}`}) during the run; its stderr ends with:\n${stderrOf.get(proc)?.().slice(-2000) ?? ''}`);
    }
  }
  process.exitCode = 1;
  throw e;
} finally {
  worker.kill('SIGTERM');
  baseline?.kill('SIGTERM');
  noCache?.kill('SIGTERM');
  lookupWorker?.kill('SIGTERM');
  for (const p of copyPeers) p.proc.kill('SIGTERM');
  llamaServer?.kill('SIGTERM');
  // The worker removes its files when it drains; the directory is the bench's.
  await new Promise((r) => setTimeout(r, 2000));
  rmSync(promptCacheDir, { recursive: true, force: true });
  await raw.context.dispose();
  await raw.model.dispose();
  await raw.llama.dispose();
}
