// The router in front of real workers (the test model, two processes at most), called with the
// real openai client: answers come through, streamed as they are generated; a conversation's turns
// stay on one worker; a client that leaves cancels the worker's generation; a request with no
// ready worker is held until one comes up, or answered 503 past the hold timeout; a connect error is
// retried once on the other worker; API keys, bad bodies; the load counts return to 0 after all.
// No fake anywhere: a dead upstream is a port nothing listens on.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { freePort, routerFor, sample, startWorker, testModelPath, until, type TestRouter, type WorkerProc } from './support.ts';

const WORKER_ARGS = ['--model', testModelPath(), '--model-name', 'test', '--parallel', '2', '--threads', '1', '--gpu', 'false'];
const COUNTING = 'Count from 1 to 1000, separated by commas: 1, 2, 3, 4, 5,';

let a: WorkerProc | undefined;
let b: WorkerProc | undefined;
let portB: number;
const routers: TestRouter[] = [];
let tmp: string;

async function router(upstreams: string[], extra: string[] = []): Promise<TestRouter> {
  const r = await routerFor(upstreams, extra);
  routers.push(r);
  return r;
}
const client = (r: TestRouter, apiKey = 'none') => new OpenAI({ baseURL: `${r.url}/v1`, apiKey, maxRetries: 0 });
const idle = (r: TestRouter) => until('router load back to 0', () => r.load.current().inFlight === 0 && r.load.current().held === 0, 10_000);
const workerRunning = async (w: WorkerProc) => sample(await (await fetch(`${w.url}/metrics`)).text(), 'gen_ai_server_requests_running{model="test"}') ?? NaN;
const count = (text: string, series: string) => sample(text, series) ?? 0;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'qwen-router-test-'));
  a = await startWorker(WORKER_ARGS);
  portB = await freePort();
}, 120_000);

afterAll(async () => {
  for (const r of routers) await r.drain();
  await Promise.all([a?.stop(), b?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('holding', () => {
  it('a request with no ready worker is held, then served when the worker comes up', async () => {
    // Worker B's port has nothing on it yet: the connection is refused, the upstream ejected and
    // probed, and the request waits for it.
    const r = await router([`http://127.0.0.1:${portB}`], ['--hold-timeout=2m']);
    const answer = client(r).chat.completions.create({ model: 'test', messages: [{ role: 'user', content: 'Say hi.' }], max_tokens: 4, temperature: 0 });
    await until('the request is held', () => r.load.current().held === 1);
    expect((await (await fetch(`${r.admin}/readyz`)).json())).toEqual({ status: 'ready' });
    expect(sample(await r.scrape(), 'qwen_router_ready_endpoints{model="test"}')).toBe(0);
    b = await startWorker([...WORKER_ARGS, '--port', String(portB)]);
    const done = await answer;
    expect(done.choices[0]!.message.content).toEqual(expect.any(String));
    await idle(r);
    const m = await r.scrape();
    expect(count(m, 'qwen_router_request_duration_seconds_count{model="test",error_type="",tenant="default"}')).toBe(1);
    expect(count(m, 'qwen_router_hold_duration_seconds_sum{model="test"}')).toBeGreaterThan(0);
    expect(count(m, 'qwen_router_requests_held{model="test"}')).toBe(0);
    expect(count(m, 'qwen_router_ready_endpoints{model="test"}')).toBe(1);
  }, 120_000);

  it('past the hold timeout: 503 with Retry-After, error type unavailable; past --max-held: 429 at once', async () => {
    const dead = await freePort();
    const r = await router([`http://127.0.0.1:${dead}`], ['--hold-timeout=1s', '--max-held=1']);
    const body = JSON.stringify({ model: 'test', messages: [{ role: 'user', content: 'hi' }] });
    const post = () => fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const first = post();
    await until('the first request is held', () => r.load.current().held === 1);
    const second = await post();
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect((await second.json() as { error: { code: string } }).error.code).toBe('too_many_held_requests');
    const res = await first;
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    const err = (await res.json() as { error: Record<string, unknown> }).error;
    expect(err).toMatchObject({ type: 'unavailable', code: 'unavailable', param: null });
    expect(err.message).toMatch(/no worker became ready within 1s/);
    await idle(r);
    const m = await r.scrape();
    expect(count(m, 'qwen_router_request_duration_seconds_count{model="test",error_type="unavailable",tenant="default"}')).toBe(1);
    expect(count(m, 'qwen_router_request_duration_seconds_count{model="test",error_type="overloaded",tenant="default"}')).toBe(1);
  }, 30_000);
});

describe('two workers behind the router', () => {
  let r: TestRouter;
  beforeAll(async () => {
    // Started by the holding test, unless it was left out (jest -t).
    b ??= await startWorker([...WORKER_ARGS, '--port', String(portB)]);
    r = await router([a!.url, b.url]);
  }, 120_000);

  it('answers through the openai client, streamed and not, and lists the models', async () => {
    const c = client(r);
    const plain = await c.chat.completions.create({ model: 'test', messages: [{ role: 'user', content: 'Name a colour.' }], max_tokens: 8, temperature: 0 });
    expect(plain.choices[0]!.message.role).toBe('assistant');
    let text = '';
    for await (const chunk of await c.chat.completions.create({ model: 'test', messages: [{ role: 'user', content: 'Name a colour.' }], max_tokens: 8, temperature: 0, stream: true })) {
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(plain.choices[0]!.message.content);
    const completion = await c.completions.create({ model: 'test', prompt: 'The sky is', max_tokens: 4, temperature: 0 });
    expect(completion.choices[0]!.text).toEqual(expect.any(String));
    expect((await c.models.list()).data.map((m) => m.id)).toEqual(['test']);
    await idle(r);
    const m = await r.scrape();
    expect(count(m, 'qwen_router_request_duration_seconds_count{model="test",error_type="",tenant="default"}')).toBe(3);
    // TTFT of the stream and of the two whole answers.
    expect(count(m, 'qwen_router_time_to_first_token_seconds_count{model="test",tenant="default"}')).toBe(3);
  });

  it('keeps each conversation on one worker, turn after turn', async () => {
    const c = client(r);
    const before = await r.scrape();
    const convs = ['the sea', 'mountains', 'bread', 'trains'];
    const history = convs.map((topic) => [
      { role: 'system' as const, content: `You write one short sentence about ${topic}.` },
      { role: 'user' as const, content: `Tell me about ${topic}.` },
    ]);
    for (let t = 1; t <= 3; t++) {
      // Interleaved: turn t of every conversation, two at a time.
      await Promise.all(history.map(async (h, i) => {
        const out = await c.chat.completions.create({ model: 'test', messages: h, max_tokens: 6, temperature: 0 }, { headers: { 'x-request-id': `conv${i}-turn${t}` } });
        h.push({ role: 'assistant' as never, content: out.choices[0]!.message.content ?? '' }, { role: 'user', content: `More, part ${t + 1}.` });
      }));
    }
    const byConv = new Map<string, Set<unknown>>();
    for (const l of r.requests()) {
      const m = /^(conv\d)-turn\d$/.exec(String(l.id));
      if (m) (byConv.get(m[1]!) ?? byConv.set(m[1]!, new Set()).get(m[1]!)!).add(l.endpoint);
    }
    expect(byConv.size).toBe(4);
    for (const endpoints of byConv.values()) expect(endpoints.size).toBe(1);
    const after = await r.scrape();
    const hits = count(after, 'qwen_router_affinity_total{model="test",result="hit"}') - count(before, 'qwen_router_affinity_total{model="test",result="hit"}');
    const spills = count(after, 'qwen_router_affinity_total{model="test",result="spill"}') - count(before, 'qwen_router_affinity_total{model="test",result="spill"}');
    expect(hits + spills).toBe(12);
    // With 4 conversations on 2 workers at most 2 run at once per worker: the bound is never hit by more than a turn or two.
    expect(hits).toBeGreaterThanOrEqual(8);
    await idle(r);
  }, 120_000);

  it('streams each event as the worker sends it: the first text arrives while the worker is still generating', async () => {
    const stream = await client(r).completions.create({ model: 'test', prompt: COUNTING, max_tokens: 60, temperature: 0, stream: true });
    let runningAtFirst: number | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      if (runningAtFirst === undefined && chunk.choices[0]?.text) runningAtFirst = (await workerRunning(a!)) + (await workerRunning(b!));
      chunks++;
    }
    expect(runningAtFirst).toBe(1);
    expect(chunks).toBeGreaterThan(10);
    await idle(r);
  }, 60_000);

  it('a client that leaves mid-stream cancels the worker\'s generation', async () => {
    const ac = new AbortController();
    const stream = await client(r).completions.create({ model: 'test', prompt: COUNTING, max_tokens: 2000, temperature: 0, stream: true }, { signal: ac.signal });
    let seen = 0;
    // The openai client ends the iteration quietly (or throws, by version) when its signal aborts.
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.text && ++seen === 3) ac.abort();
      }
    } catch { /* aborted */ }
    expect(seen).toBe(3);
    await until('the workers stop generating', async () => (await workerRunning(a!)) + (await workerRunning(b!)) === 0, 20_000);
    await idle(r);
    const cancelledAtWorkers = await Promise.all([a!, b!].map(async (w) => sample(await (await fetch(`${w.url}/metrics`)).text(), 'gen_ai_server_request_duration_seconds_count{model="test",error_type="cancelled"}') ?? 0));
    expect(cancelledAtWorkers[0]! + cancelledAtWorkers[1]!).toBe(1);
    expect(count(await r.scrape(), 'qwen_router_request_duration_seconds_count{model="test",error_type="cancelled",tenant="default"}')).toBe(1);
    expect(r.requests().at(-1)).toMatchObject({ status: 499, error_type: 'cancelled' });
  }, 60_000);

  it('answers bad requests itself, in OpenAI\'s error shape', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${r.url}${path}`, { method: 'POST', headers, body });
    const bad = await post('/v1/chat/completions', '{"model": "test", "messages": [');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/json');
    expect(await bad.json()).toEqual({ error: { message: expect.stringMatching(/^malformed JSON body/), type: 'invalid_request_error', param: null, code: 'invalid_json' } });
    expect((await post('/v1/completions', 'x', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('/v1/nope', '{}')).status).toBe(404);
    const get = await fetch(`${r.url}/v1/chat/completions`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    // The worker's own refusals pass through unchanged.
    const wrongModel = await post('/v1/chat/completions', JSON.stringify({ model: 'other', messages: [{ role: 'user', content: 'hi' }] }));
    expect(wrongModel.status).toBe(404);
    expect((await wrongModel.json() as { error: { code: string } }).error.code).toBe('model_not_found');
    await idle(r);
  });
});

describe('retries, limits, keys', () => {
  it('a connect error is retried once on the other worker, and the dead one is left out', async () => {
    const dead = await freePort();
    const r = await router([`http://127.0.0.1:${dead}`, a!.url], ['--affinity=None']);
    const c = client(r);
    for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: 'test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    await idle(r);
    const m = await r.scrape();
    expect(count(m, 'qwen_router_retries_total{model="test",reason="connect"}')).toBe(1);
    expect(count(m, 'qwen_router_request_duration_seconds_count{model="test",error_type="",tenant="default"}')).toBe(3);
    expect(count(m, 'qwen_router_ready_endpoints{model="test"}')).toBe(1);
    expect(r.requests().every((l) => l.endpoint === new URL(a!.url).host)).toBe(true);
  }, 60_000);

  it('a body over --max-body-bytes gets 413', async () => {
    const r = await router([a!.url], ['--max-body-bytes=100']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'test', prompt: 'x'.repeat(200) }) });
    expect(res.status).toBe(413);
    expect((await res.json() as { error: { code: string } }).error.code).toBe('request_too_large');
  });

  it('with --api-key-file: 401 without a valid key, before any worker is asked', async () => {
    const keys = join(tmp, 'keys');
    writeFileSync(keys, '# router keys\nsecret-1\n');
    const dead = await freePort();
    // Nothing is ready: a request that got past the key check would be held, not refused.
    const r = await router([`http://127.0.0.1:${dead}`], [`--api-key-file=${keys}`, '--hold-timeout=30s']);
    for (const key of ['wrong', 'secret-2']) {
      const e = await client(r, key).chat.completions.create({ model: 'test', messages: [{ role: 'user', content: 'hi' }] }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((e as InstanceType<typeof OpenAI.AuthenticationError>).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    }
    const missing = await fetch(`${r.url}/v1/models`);
    expect([missing.status, missing.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    expect(r.load.current()).toEqual({ inFlight: 0, held: 0 });
    // A valid key passes (and is held: nothing is ready).
    const ok = fetch(`${r.url}/v1/models`, { headers: { authorization: 'Bearer secret-1' } });
    await until('held', () => r.load.current().held === 1);
    await r.drain();
    expect((await ok).status).toBe(503);
    expect(r.load.current()).toEqual({ inFlight: 0, held: 0 });
  }, 30_000);
});

describe('drain', () => {
  it('SIGTERM\'s drain: /readyz 503 at once, new requests refused, the in-flight stream finishes', async () => {
    const r = await router([a!.url], ['--drain-timeout=60']);
    const stream = await client(r).completions.create({ model: 'test', prompt: COUNTING, max_tokens: 30, temperature: 0, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const drained = r.drain();
    await until('readyz 503', async () => (await fetch(`${r.admin}/readyz`).then((x) => x.status, () => 0)) === 503, 5_000);
    let chunks = 1;
    while (!(await it.next()).done) chunks++;
    expect(chunks).toBeGreaterThan(5);
    await drained;
    await expect(fetch(`${r.url}/v1/models`)).rejects.toThrow();
    const last = r.requests().at(-1)!;
    expect(last).toMatchObject({ status: 200, error_type: '' });
    expect(r.load.current()).toEqual({ inFlight: 0, held: 0 });
  }, 60_000);
});

describe('admin port', () => {
  it('serves /healthz, /readyz, the peer load and every router series', async () => {
    const r = await router([a!.url]);
    expect(await (await fetch(`${r.admin}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${r.admin}/load`)).json()).toEqual({ inFlight: 0, held: 0 });
    const m = await r.scrape();
    for (const name of ['qwen_router_request_duration_seconds_bucket', 'qwen_router_time_to_first_token_seconds_bucket', 'qwen_router_hold_duration_seconds_bucket',
      'qwen_router_requests_in_flight', 'qwen_router_requests_held', 'qwen_router_affinity_total', 'qwen_router_retries_total', 'qwen_router_ready_endpoints']) {
      expect(m).toContain(`${name}{`);
    }
  });
});
