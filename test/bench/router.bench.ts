// Benchmark of the router ([G]). Not a jest test. Run (after scripts/setup.sh): npm run bench:router
//   [-- --conversations 10 --turns 4 --concurrency 2 --tokens 12 --overhead-requests 400]
//
// Part 1, affinity: two real workers (the test model, --parallel 2 --threads 1, each with its host
// prompt cache on /dev/shm) behind the router (affinity Prefix) and behind random spreading (a tiny
// proxy in this file that sends each request to one of the two at random, as a Service's
// kube-proxy does). Many interleaved multi-turn conversations — more than the workers' 4
// sequences, mixed history lengths of ~500 to ~1,100 tokens — the same ones for both setups, each on
// freshly started workers, two requests at a time by default (the machine's two cores: more only
// queues inside the workers). Reported: client-side TTFT p95 of turns >= 2 (target router <= 0.3x
// random) and aggregate generated tokens/s (target >= 0.95x).
// Part 2, overhead: the router (its own process, as deployed) against a trivial upstream (a
// node:http server answering a fixed SSE stream at once), requests alternating between direct and
// through the router: added latency per request p50 (target <= 2 ms) and added delay of the first
// streamed byte p50 (target <= 5 ms).
// Prints a table and a JSON line (prefix BENCH_JSON). Every process it starts is stopped on the way
// out, also on failure and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OpenAI from '../../router/node_modules/openai/index.mjs';
import { pino } from '../../router/node_modules/pino/pino.js';
import { parseConfig } from '../../router/src/config.ts';
import { staticEndpoints } from '../../router/src/endpoints.ts';
import { startRouter } from '../../router/src/router.ts';
import { startWorker, testModelPath, type WorkerProc } from '../../worker/test/support.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: {
  conversations: { type: 'string' }, turns: { type: 'string' }, concurrency: { type: 'string' }, tokens: { type: 'string' },
  'overhead-requests': { type: 'string' }, part: { type: 'string' },
} });
const CONVERSATIONS = Number(values.conversations ?? 10);
const TURNS = Number(values.turns ?? 4);
const CONCURRENCY = Number(values.concurrency ?? 2);
const TOKENS = Number(values.tokens ?? 12);
const OVERHEAD_REQUESTS = Number(values['overhead-requests'] ?? 400);
const PART = values.part ?? 'all';
const PROMPT_CACHE_BYTES = 512 * 1024 * 1024;

// --- cleanup: whatever was started is stopped, however the bench ends ---
const workers = new Set<WorkerProc>();
const children = new Set<ChildProcess>();
const cacheDirs: string[] = [];
async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([...workers].map((w) => w.stop()));
  for (const d of cacheDirs) rmSync(d, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { void cleanup().finally(() => process.exit(130)); });

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// --- part 1: conversations ---

/** Deterministic text: `words` words of a conversation's own system prompt. */
function systemPrompt(conv: number, words: number): string {
  const vocab = ('river stone market winter garden lantern harbor copper meadow thunder violin orchard candle glacier ' +
    'compass velvet timber saddle canyon ember falcon quarry ribbon tundra beacon marble pepper harvest anchor ' +
    'cobalt willow summit kettle prairie lagoon cedar pilgrim bramble cinder ferry granite hollow ivory juniper').split(' ');
  let x = (conv + 1) * 2654435761 >>> 0;
  const out: string[] = [`You are the archivist of valley number ${conv}. Answer briefly. Notes:`];
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(vocab[x % vocab.length]!);
  }
  return out.join(' ');
}

type Turn = { conv: number; turn: number; ttftMs: number; tokens: number; promptTokens: number; cached: number };

/** All conversations, turn after turn, CONCURRENCY requests at a time; a conversation's next turn waits for its previous one. */
async function conversations(baseURL: string): Promise<{ turns: Turn[]; wallS: number }> {
  const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'none', maxRetries: 0, timeout: 600_000 });
  const history = Array.from({ length: CONVERSATIONS }, (_, c) => [
    { role: 'system', content: systemPrompt(c, [450, 600, 750, 900][c % 4]!) },
    { role: 'user', content: `Which river runs through valley ${c}?` },
  ] as OpenAI.Chat.ChatCompletionMessageParam[]);
  const queue: { conv: number; turn: number }[] = [];
  for (let t = 1; t <= TURNS; t++) for (let c = 0; c < CONVERSATIONS; c++) queue.push({ conv: c, turn: t });
  const previous = new Map<number, Promise<void>>();
  const turns: Turn[] = [];
  const t0 = performance.now();
  const one = async ({ conv, turn }: { conv: number; turn: number }) => {
    await previous.get(conv);
    const start = performance.now();
    let ttftMs = NaN;
    let text = '';
    let tokens = 0;
    let cached = 0;
    let promptTokens = 0;
    const stream = await client.chat.completions.create({
      model: 'test', messages: history[conv]!, max_tokens: TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta.content ?? '';
      if (piece !== '' && Number.isNaN(ttftMs)) ttftMs = performance.now() - start;
      text += piece;
      if (chunk.usage) { tokens = chunk.usage.completion_tokens; promptTokens = chunk.usage.prompt_tokens; cached = chunk.usage.prompt_tokens_details?.cached_tokens ?? 0; }
    }
    history[conv]!.push({ role: 'assistant', content: text }, { role: 'user', content: `And what grows on its banks, part ${turn + 1}?` });
    turns.push({ conv, turn, ttftMs, tokens, promptTokens, cached });
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const p = one(job);
      previous.set(job.conv, p);
      await p;
    }
  }));
  return { turns, wallS: (performance.now() - t0) / 1000 };
}

async function freshWorkers(tag: string): Promise<WorkerProc[]> {
  return Promise.all([0, 1].map(async (i) => {
    const dir = `/dev/shm/qwen-router-bench-${process.pid}-${tag}-${i}`;
    cacheDirs.push(dir);
    const w = await startWorker(['--model', testModelPath(), '--model-name', 'test', '--parallel', '2', '--threads', '1', '--gpu', 'false',
      '--prompt-cache-bytes', String(PROMPT_CACHE_BYTES), '--prompt-cache-dir', dir], { timeoutMs: 180_000 });
    workers.add(w);
    return w;
  }));
}

async function stopWorkers(ws: WorkerProc[]): Promise<void> {
  for (const w of ws) { await w.stop(); workers.delete(w); }
}

/** The baseline: each request to one of `upstreams` at random, streamed through (kube-proxy's spreading). */
function randomSpreader(upstreams: string[]): http.Server {
  const agent = new http.Agent({ keepAlive: true });
  return http.createServer((req, res) => {
    const target = new URL(req.url!, upstreams[Math.floor(Math.random() * upstreams.length)]);
    const up = http.request(target, { method: req.method, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    req.pipe(up);
  });
}

type SetupResult = { ttftP50: number; ttftP95: number; tokensPerS: number; turns: number; promptTokensMean: number; cachedShare: number; hits?: number; spills?: number };

function summarise(r: { turns: Turn[]; wallS: number }): SetupResult {
  const later = r.turns.filter((t) => t.turn >= 2);
  const tokens = r.turns.reduce((s, t) => s + t.tokens, 0);
  return {
    ttftP50: pct(later.map((t) => t.ttftMs), 50), ttftP95: pct(later.map((t) => t.ttftMs), 95),
    tokensPerS: tokens / r.wallS, turns: r.turns.length,
    promptTokensMean: later.reduce((s, t) => s + t.promptTokens, 0) / later.length,
    // Prompt tokens of later turns not evaluated again (a cold turn reuses only the chat template's first tokens).
    cachedShare: later.reduce((s, t) => s + t.cached, 0) / later.reduce((s, t) => s + t.promptTokens, 0),
  };
}

async function affinityPart(): Promise<Record<string, SetupResult>> {
  const out: Record<string, SetupResult> = {};
  for (const setup of ['random', 'router'] as const) {
    const ws = await freshWorkers(setup);
    const urls = ws.map((w) => w.url);
    let base: string;
    let stop: () => Promise<void>;
    let affinity: (() => Promise<{ hits: number; spills: number }>) | undefined;
    if (setup === 'router') {
      const config = parseConfig(['--host=127.0.0.1', '--port=0', '--admin-port=0', `--upstreams=${urls.join(',')}`, '--model-name=test', '--drain-timeout=1']);
      const r = await startRouter(config, staticEndpoints(urls), pino({ level: 'warn' }));
      base = `http://127.0.0.1:${r.ports.port}`;
      stop = r.drain;
      affinity = async () => {
        const m = (await r.metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'qwen_router_affinity_total')!;
        const v = (result: string) => (m.values as { labels: Record<string, unknown>; value: number }[]).find((x) => x.labels.result === result)?.value ?? 0;
        return { hits: v('hit'), spills: v('spill') };
      };
    } else {
      const s = randomSpreader(urls);
      base = await listen(s);
      stop = () => new Promise<void>((res) => { s.close(() => res()); s.closeAllConnections(); });
    }
    try {
      process.stderr.write(`part 1: ${setup}: ${CONVERSATIONS} conversations x ${TURNS} turns, ${CONCURRENCY} at a time...\n`);
      out[setup] = { ...summarise(await conversations(base)), ...(affinity ? await affinity() : {}) };
      process.stderr.write(`  ${JSON.stringify(out[setup])}\n`);
    } finally {
      await stop();
      await stopWorkers(ws);
    }
  }
  return out;
}

// --- part 2: overhead ---

const SSE_EVENTS = Array.from({ length: 8 }, (_, i) => `data: {"choices":[{"index":0,"delta":{"content":"t${i}"},"finish_reason":null}]}\n\n`);

function trivialUpstream(): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/readyz') { res.end('{"status":"ready"}'); return; }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(SSE_EVENTS[0]);
      res.end(`${SSE_EVENTS.slice(1).join('')}data: [DONE]\n\n`);
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BODY = JSON.stringify({ model: 'test', stream: true, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say something short.' }] });

/** One streamed request: ms to the first body byte and to the end. */
function timedRequest(base: string): Promise<{ firstByteMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = NaN;
    const req = http.request(`${base}/v1/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) } }, (res) => {
      res.on('data', () => { if (Number.isNaN(first)) first = performance.now() - t0; });
      res.on('end', () => resolve({ firstByteMs: first, totalMs: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

async function overheadPart(): Promise<Record<string, number>> {
  const upstream = trivialUpstream();
  const upstreamUrl = await listen(upstream);
  const ports = await Promise.all([0, 1].map(async () => {
    const s = http.createServer();
    const u = await listen(s);
    await new Promise<void>((r) => s.close(() => r()));
    return Number(new URL(u).port);
  }));
  const router = spawn(join(root, 'router', 'bin', 'qwen-router'), [`--upstreams=${upstreamUrl}`, '--host=127.0.0.1', `--port=${ports[0]}`, `--admin-port=${ports[1]}`, '--model-name=test'],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(router);
  try {
    const routerUrl = `http://127.0.0.1:${ports[0]}`;
    for (let i = 0; ; i++) {
      if ((await fetch(`http://127.0.0.1:${ports[1]}/readyz`).then((r) => r.status, () => 0)) === 200) break;
      if (router.exitCode !== null || i > 300) throw new Error('the router did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    process.stderr.write(`part 2: ${OVERHEAD_REQUESTS} requests direct and ${OVERHEAD_REQUESTS} through the router, alternating...\n`);
    // Warm-up: connections, JIT.
    for (let i = 0; i < 50; i++) { await timedRequest(upstreamUrl); await timedRequest(routerUrl); }
    const direct: { firstByteMs: number; totalMs: number }[] = [];
    const routed: { firstByteMs: number; totalMs: number }[] = [];
    for (let i = 0; i < OVERHEAD_REQUESTS; i++) {
      direct.push(await timedRequest(upstreamUrl));
      routed.push(await timedRequest(routerUrl));
    }
    // Paired differences (each pair ran back to back), so a busy moment of the machine hits both.
    const added = routed.map((r, i) => r.totalMs - direct[i]!.totalMs);
    const firstAdded = routed.map((r, i) => r.firstByteMs - direct[i]!.firstByteMs);
    return {
      directP50Ms: pct(direct.map((d) => d.totalMs), 50), routedP50Ms: pct(routed.map((d) => d.totalMs), 50),
      addedP50Ms: pct(added, 50), addedP90Ms: pct(added, 90),
      firstByteDirectP50Ms: pct(direct.map((d) => d.firstByteMs), 50), firstByteRoutedP50Ms: pct(routed.map((d) => d.firstByteMs), 50),
      firstByteAddedP50Ms: pct(firstAdded, 50), firstByteAddedP90Ms: pct(firstAdded, 90),
    };
  } finally {
    router.kill('SIGTERM');
    upstream.close();
    upstream.closeAllConnections();
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const result: Record<string, unknown> = { conversations: CONVERSATIONS, turns: TURNS, concurrency: CONCURRENCY, maxTokens: TOKENS };
  try {
    if (PART === 'all' || PART === 'overhead') result.overhead = await overheadPart();
    if (PART === 'all' || PART === 'affinity') {
      const a = await affinityPart();
      result.affinity = a;
      result.ttftP95Ratio = a.router!.ttftP95 / a.random!.ttftP95;
      result.tokensPerSRatio = a.router!.tokensPerS / a.random!.tokensPerS;
    }
  } finally {
    await cleanup();
  }
  const f = (n: unknown, d = 2) => (typeof n === 'number' ? n.toFixed(d) : String(n));
  const o = result.overhead as Record<string, number> | undefined;
  const a = result.affinity as Record<string, SetupResult> | undefined;
  if (a) {
    console.log(`\nAffinity: ${CONVERSATIONS} conversations x ${TURNS} turns, ${CONCURRENCY} at a time, ${TOKENS} tokens each; 2 workers --parallel 2 --threads 1 with prompt cache`);
    console.log('setup   | TTFT p50 turns>=2 | TTFT p95 turns>=2 | tokens/s | prompt tokens (mean, turns>=2) | of them cached');
    for (const s of ['random', 'router'] as const) {
      console.log(`${s.padEnd(7)} | ${f(a[s]!.ttftP50, 0).padStart(14)} ms | ${f(a[s]!.ttftP95, 0).padStart(14)} ms | ${f(a[s]!.tokensPerS).padStart(8)} | ${f(a[s]!.promptTokensMean, 0).padStart(30)} | ${f(a[s]!.cachedShare * 100, 0)}%`);
    }
    console.log(`router affinity: ${a.router!.hits} hits, ${a.router!.spills} spills`);
    console.log(`TTFT p95 ratio router/random: ${f(result.ttftP95Ratio, 3)} (target <= 0.3); tokens/s ratio: ${f(result.tokensPerSRatio, 3)} (target >= 0.95)`);
  }
  if (o) {
    console.log(`\nOverhead against a trivial SSE upstream (${OVERHEAD_REQUESTS} pairs): added p50 ${f(o.addedP50Ms, 3)} ms (p90 ${f(o.addedP90Ms, 3)}; target <= 2), ` +
      `first byte added p50 ${f(o.firstByteAddedP50Ms, 3)} ms (p90 ${f(o.firstByteAddedP90Ms, 3)}; target <= 5); direct p50 ${f(o.directP50Ms, 3)} ms, routed p50 ${f(o.routedP50Ms, 3)} ms`);
  }
  console.log(`\nBENCH_JSON ${JSON.stringify({ ...result, wallS: (performance.now() - t0) / 1000 })}`);
}

await main();
