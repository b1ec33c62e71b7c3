// A worker in a shared cluster, on the real test model: API keys (401 shape, rotation through a
// Secret-style symlink swap and a plain rewrite, revocation, an unreadable file; not an SLI error),
// slow clients cut off by the configured timeouts (raw sockets), hostile requests answered 4xx
// with a JSON body and never counted as internal errors, grammar work only after admission and
// bounded, and a huge prompt that does not stall /healthz. Throughout, /healthz is polled and the
// event loop's delay (nodejs_eventloop_lag_*) read: both are reported at the end.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, mkdir, rm, symlink, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { eventLoopLagSeen, metricsText, rawRequest, sample, startWorker, testModelPath } from './support.ts';
import type { LogLine, WorkerProc } from './support.ts';

jest.setTimeout(60_000);

const MODEL = 'gemma-sec';
const KEY1 = 'sk-one-0123456789';
const KEY2 = 'sk-two-9876543210';
const HEADERS_TIMEOUT_S = 1;
const BODY_TIMEOUT_S = 2;
const KEEP_ALIVE_S = 1;
let dir: string;
let secretDir: string;
let w: WorkerProc;

/** The worker's log line matching `match` (it comes over the child's stdout pipe, which may trail the HTTP answer). */
async function logged(match: (l: LogLine & { msg: string }) => boolean): Promise<LogLine> {
  const find = () => w.logs.find((l) => typeof l.msg === 'string' && match(l as LogLine & { msg: string }));
  for (let i = 0; i < 100 && !find(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(find()).toBeDefined();
  return find()!;
}

const jsonSchema = (schema: unknown) => ({ type: 'json_schema', json_schema: { name: 's', schema } });
/** Valid, and on main compiled in about half a second each, before the request took a queue place. */
const hugeSchema = { type: 'object', properties: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 1999 - i }])) };

const count = (t: string, e: string) => sample(t, `gen_ai_server_request_duration_seconds_count{model="${MODEL}",error_type="${e}"}`) ?? 0;
const total = (t: string) => ['', 'invalid_request', 'cancelled', 'overloaded', 'timeout', 'internal', 'unavailable'].reduce((n, e) => n + count(t, e), 0);
const auth = (key = KEY1) => ({ authorization: `Bearer ${key}` });
const json = { 'content-type': 'application/json' };

/** A Kubernetes Secret volume: `key` → `..data/key`, `..data` → `..<version>`, updated by swapping `..data`. */
async function publishSecret(version: string, content: string): Promise<void> {
  await mkdir(join(secretDir, `..${version}`));
  await writeFile(join(secretDir, `..${version}`, 'key'), content);
  await symlink(`..${version}`, join(secretDir, '..data_tmp'));
  await rename(join(secretDir, '..data_tmp'), join(secretDir, '..data'));
}

/** /healthz round trips (ms), polled throughout the file's tests. */
const healthzMs: number[] = [];
let polling = true;
let poller: Promise<void> | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-worker-security-'));
  secretDir = join(dir, 'secret');
  await mkdir(secretDir);
  await publishSecret('v1', `# the API keys of this worker\n\n${KEY1}\n`);
  await symlink('..data/key', join(secretDir, 'key'));
  w = await startWorker(['--model', testModelPath(), '--model-name', MODEL, '--api-key-file', join(secretDir, 'key'),
    '--headers-timeout', String(HEADERS_TIMEOUT_S), '--body-timeout', String(BODY_TIMEOUT_S), '--keep-alive-timeout', String(KEEP_ALIVE_S),
    '--max-header-bytes', '4096', '--parallel', '1', '--queue-size', '1', '--context-size', '1024', '--max-body-bytes', String(8 << 20),
    '--threads', '1', '--gpu', 'false']);
  poller = (async () => {
    for (let i = 0; polling; i++) {
      const t0 = performance.now();
      const r = await fetch(`${w.url}/healthz`).catch(() => undefined);
      if (r?.status === 200) healthzMs.push(performance.now() - t0);
      // The lag gauges, about once a second (other tests' scrapes are counted too, support.ts).
      if (i % 5 === 4) await metricsText(w.url).catch(() => undefined);
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
}, 90_000);

afterAll(async () => {
  polling = false;
  await poller;
  await w?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('API keys', () => {
  it('health, readiness and metrics need no key; the key is never logged', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${w.url}${p}`)).status).toBe(200);
    expect(w.logs.find((l) => l.msg === 'listening; loading model')!.apiKeys).toBe(1);
    expect(JSON.stringify(w.logs)).not.toContain(KEY1);
  });

  it('refuses /v1/* without a valid key with the OpenAI 401 body, and does not count it as a service request', async () => {
    const before = await metricsText(w.url);
    for (const headers of [{}, auth('sk-wrong'), { authorization: KEY1 }, { authorization: `Basic ${KEY1}` }, auth(`${KEY1}x`), auth(KEY1.slice(0, -1))]) {
      for (const [method, path] of [['GET', '/v1/models'], ['GET', `/v1/models/${MODEL}`], ['POST', '/v1/completions'], ['POST', '/v1/chat/completions'], ['POST', '/v1/nope']]) {
        const r = await fetch(`${w.url}${path}`, { method, headers: { ...json, ...headers }, body: method === 'POST' ? JSON.stringify({ prompt: 'x', max_tokens: 1 }) : undefined });
        expect(r.status).toBe(401);
        expect(r.headers.get('content-type')).toBe('application/json');
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
        const body = (await r.json()) as { error: Record<string, unknown> };
        expect(body).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      }
    }
    // The official client: AuthenticationError (status 401).
    for (const apiKey of ['sk-wrong', 'none']) {
      const c = new OpenAI({ baseURL: `${w.url}/v1`, apiKey, maxRetries: 0 });
      const e = await c.completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(e).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
      await expect(c.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    }
    const after = await metricsText(w.url);
    expect(total(after)).toBe(total(before));
    expect(JSON.stringify(w.logs)).not.toContain('sk-wrong');
  });

  it('serves with a key from the file', async () => {
    const c = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: KEY1, maxRetries: 0 });
    expect((await c.models.list()).data.map((m) => m.id)).toEqual([MODEL]);
    const r = await c.completions.create({ model: MODEL, prompt: 'Hello', max_tokens: 2, temperature: 0 });
    expect(r.usage!.completion_tokens).toBe(2);
  });

  it('follows key rotation: a Secret update (symlink swap of ..data), then a rewrite of the file', async () => {
    const status = async (key: string) => (await fetch(`${w.url}/v1/models`, { headers: auth(key) })).status;
    expect([await status(KEY1), await status(KEY2)]).toEqual([200, 401]);
    // Rotation step 1: both keys valid.
    await publishSecret('v2', `${KEY1}\n${KEY2}\n`);
    expect([await status(KEY1), await status(KEY2)]).toEqual([200, 200]);
    // Step 2: the old key is withdrawn.
    await publishSecret('v3', `# rotated\n${KEY2}\n`);
    expect([await status(KEY1), await status(KEY2)]).toEqual([401, 200]);
    // A file rewritten in place (same inode) is re-read as well.
    await writeFile(join(secretDir, 'key'), `${KEY1}\n`);
    expect([await status(KEY1), await status(KEY2)]).toEqual([200, 401]);
    // An emptied (comments only) file revokes every key at once, and says so.
    await writeFile(join(secretDir, 'key'), '# nothing\n');
    expect([await status(KEY1), await status(KEY2), await status('')]).toEqual([401, 401, 401]);
    await logged((l) => l.msg.startsWith('API key file holds no key'));
    await writeFile(join(secretDir, 'key'), `${KEY1}\n`);
    expect(await status(KEY1)).toBe(200);
    expect(w.logs.filter((l) => l.msg === 'API keys reloaded').length).toBeGreaterThanOrEqual(3);
  });

  it('an unreadable key file is a fault: logged, counted, the last keys kept for the grace period', async () => {
    const status = async (key: string) => (await fetch(`${w.url}/v1/models`, { headers: auth(key) })).status;
    const faults = async () => sample(await metricsText(w.url), 'qwen_worker_api_key_file_errors_total');
    expect(await faults()).toBe(0);
    // Unreadable for root too (chmod would not do): the key file's path is now a directory.
    await publishSecret('v4', 'unused');
    await rm(join(secretDir, '..v4', 'key'));
    await mkdir(join(secretDir, '..v4', 'key'));
    expect([await status(KEY1), await status(KEY2)]).toEqual([200, 401]);
    expect(await faults()).toBe(1);
    const line = await logged((l) => l.msg.startsWith('API key file unreadable'));
    expect(line).toMatchObject({ level: 50, path: join(secretDir, 'key'), code: 'EISDIR', keys: 1, graceS: 60 });
    // The grace (60 s) is not waited for here: worker/test/api-keys.test.ts runs it short.
    await publishSecret('v5', `${KEY1}\n`);
    expect(await status(KEY1)).toBe(200);
    await logged((l) => l.msg === 'API key file readable again');
  });

  it.each([
    ['an empty key file', '# no key yet\n\n', /no key in it/],
    ['a missing key file', undefined, /cannot read it/],
  ])('refuses to start with %s', async (_name, content, message) => {
    const path = join(dir, `keys-${Math.random()}`);
    if (content !== undefined) await writeFile(path, content);
    const e = await startWorker(['--model', testModelPath(), '--api-key-file', path, '--gpu', 'false'], { waitReady: false }).catch((err: unknown) => err);
    expect(String(e)).toMatch(/worker exited \(1\) before listening/);
    expect(String(e)).toMatch(message);
  });
});

describe('slow clients', () => {
  const port = () => w.port;

  it('half a header: 408 (JSON) and closed after --headers-timeout', async () => {
    const r = await rawRequest(port(), 'POST /v1/completions HTTP/1.1\r\nHost: w\r\nX-A: ', { timeoutMs: 15_000 });
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_S * 1000 - 50);
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'request_timeout', type: 'invalid_request_error' } });
  });

  it('half a body: 408 (JSON) and closed after --body-timeout; counted as invalid_request, never internal', async () => {
    const before = await metricsText(w.url);
    const r = await rawRequest(port(), `POST /v1/completions HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer ${KEY1}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`, { timeoutMs: 15_000 });
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_S * 1000 - 50);
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'request_timeout' } });
    const after = await metricsText(w.url);
    expect(count(after, 'invalid_request') - count(before, 'invalid_request')).toBe(1);
    expect(count(after, 'internal')).toBe(count(before, 'internal'));
  });

  it('half a body without a key: 401 at once, then the connection is closed after --body-timeout', async () => {
    const r = await rawRequest(port(), 'POST /v1/completions HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{', { timeoutMs: 15_000 });
    expect(r.status).toBe(401);
    expect(r.text.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_S * 1000 - 50);
  });

  it('a body dripping one byte at a time is cut off too', async () => {
    const s = net.connect(port(), '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString(); });
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => undefined);
    s.write(`POST /v1/completions HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer ${KEY1}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`);
    const drip = setInterval(() => { if (!s.destroyed) s.write(' '); }, 200);
    await closed;
    clearInterval(drip);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('an idle keep-alive connection is closed', async () => {
    const r = await rawRequest(port(), 'GET /healthz HTTP/1.1\r\nHost: w\r\n\r\n', { timeoutMs: 15_000 });
    expect(r.status).toBe(200);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(KEEP_ALIVE_S * 1000 - 50);
  });

  it('headers over --max-header-bytes: 431 (JSON)', async () => {
    const r = await rawRequest(port(), `GET /healthz HTTP/1.1\r\nHost: w\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'request_header_fields_too_large' } });
  });

  it('streaming responses longer than --body-timeout and --keep-alive-timeout are not cut', async () => {
    const c = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: KEY1, maxRetries: 0 });
    const t0 = Date.now();
    const stream = await c.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 1000, temperature: 0, stream: true });
    // Read for a second past the body timeout (or to the end, were the model that fast), then stop.
    const enough = (BODY_TIMEOUT_S + 1) * 1000;
    let lastAt = 0;
    let chunks = 0;
    let finish;
    for await (const chunk of stream) {
      chunks++;
      lastAt = Date.now() - t0;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (lastAt > enough) break;
    }
    expect(chunks).toBeGreaterThan(10);
    expect(lastAt > enough || finish === 'length').toBe(true);
  }, 120_000);
});

describe('hostile requests: 4xx with a JSON body, never error_type="internal"', () => {
  const post = (path: string, body: string | Buffer, headers: Record<string, string> = json) =>
    fetch(`${w.url}${path}`, { method: 'POST', body, headers: { ...auth(), ...headers } });
  const chat = (extra: Record<string, unknown>) => post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1, ...extra }));
  const chatRaw = (text: string) => post('/v1/chat/completions', text);
  const content = (c: unknown) => chat({ messages: [{ role: 'user', content: c }] });
  const completion = (extra: Record<string, unknown>) => post('/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 1, ...extra }));
  const get = (path: string) => fetch(`${w.url}${path}`, { headers: auth() });
  const raw = (text: string) => async () => {
    const r = await rawRequest(w.port, text);
    return { status: r.status, body: r.body, contentType: /content-type: ([^\r\n]+)/i.exec(r.text)?.[1] };
  };
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const K = `Authorization: Bearer ${KEY1}\r\n`;

  const table: [string, () => Promise<Response | { status: number | undefined; body: string; contentType: string | undefined }>, number][] = [
    // The findings of the issue.
    ['content part type {toString: 1}', () => content([{ type: { toString: 1 } }]), 400],
    ['GET /v1/models/%E0%A4%A', () => get('/v1/models/%E0%A4%A'), 400],
    ['GET /v1/models/%', () => get('/v1/models/%'), 400],
    // Non-strings where strings belong.
    ['content part text {toString: 1}', () => content([{ type: 'text', text: { toString: 1 } }]), 400],
    ['content part a number', () => content([42]), 400],
    ['content part null', () => content([null]), 400],
    ['content an object', () => content({ type: 'text', text: 'x' }), 400],
    ['content part type an array', () => content([{ type: ['text'], text: 'x' }]), 400],
    ['role {toString: 1}', () => chat({ messages: [{ role: { toString: 1 }, content: 'x' }] }), 400],
    ['role an array', () => chat({ messages: [{ role: ['user'], content: 'x' }] }), 400],
    ['model {toString: 1}', () => chat({ model: { toString: 1 } }), 400],
    ['model a number', () => completion({ model: 7 }), 400],
    ['stop [{}]', () => completion({ stop: [{}] }), 400],
    ['stop a number', () => completion({ stop: 5 }), 400],
    ['a stop string of 8,001 characters', () => completion({ stop: ['a', 'b', 'c', `${'x'.repeat(8000)}y`] }), 400],
    ['five stop strings', () => completion({ stop: ['a', 'b', 'c', 'd', 'e'] }), 400],
    // Grammars: bounded in what llama.cpp would expand (docs/security.md).
    ['a schema of 100 strings × maxLength 1999', () => chat({ response_format: jsonSchema(hugeSchema) }), 400],
    ['a maxLength llama.cpp would not enforce', () => chat({ response_format: jsonSchema({ type: 'string', maxLength: 100_000 }) }), 400],
    ['128 tools × 40 properties as one oneOf', () => chat({ tool_choice: 'required', tools: Array.from({ length: 128 }, (_, i) => ({
      type: 'function', function: { name: `f${i}`, parameters: { type: 'object', properties: Object.fromEntries(Array.from({ length: 40 }, (_, p) => [`p${p}`, { type: 'string', maxLength: 50 }])) } },
    })) }), 400],
    ['prompt {toString: 1}', () => completion({ prompt: { toString: 1 } }), 400],
    ['prompt null', () => completion({ prompt: null }), 400],
    ['prompt [[1]]', () => completion({ prompt: [[1]] }), 400],
    ['prompt [true]', () => completion({ prompt: [true] }), 400],
    ['prompt [-1]', () => completion({ prompt: [-1] }), 400],
    ['prompt [1.5]', () => completion({ prompt: [1.5] }), 400],
    ['temperature "0.5"', () => completion({ temperature: '0.5' }), 400],
    ['stream "true"', () => completion({ stream: 'true' }), 400],
    ['stream_options an array', () => completion({ stream: true, stream_options: [] }), 400],
    ['messages {"0": …}', () => chat({ messages: { 0: { role: 'user', content: 'x' } } }), 400],
    ['messages [null]', () => chat({ messages: [null] }), 400],
    ['tool_calls on a message', () => chat({ messages: [{ role: 'assistant', content: 'x', tool_calls: [{}] }] }), 400],
    // Prototype keys.
    ['top-level __proto__', () => chatRaw('{"messages":[{"role":"user","content":"x"}],"__proto__":{"stream":true}}'), 400],
    ['top-level constructor', () => chatRaw('{"messages":[{"role":"user","content":"x"}],"constructor":{"name":"x"}}'), 400],
    ['top-level toString', () => completion({ toString: 1 }), 400],
    ['hasOwnProperty', () => completion({ hasOwnProperty: 1 }), 400],
    ['stream_options.__proto__', () => chatRaw('{"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"__proto__":{"include_usage":true}}}'), 400],
    ['response_format type {toString: 1}', () => chat({ response_format: { type: { toString: 1 } } }), 400],
    ['logit_bias with __proto__', () => chatRaw('{"messages":[{"role":"user","content":"x"}],"logit_bias":{"__proto__":{"1":5}}}'), 400],
    // Nesting and huge numbers.
    ['messages nested 10000 deep', () => chatRaw(`{"messages":${deep(10000)}}`), 400],
    ['a body nested 100000 deep', () => chatRaw(deep(100000)), 400],
    ['max_tokens 1e400', () => post('/v1/completions', '{"prompt":"x","max_tokens":1e400}'), 400],
    ['max_tokens 2^64', () => completion({ max_tokens: 2 ** 64 }), 400],
    ['max_tokens -1', () => completion({ max_tokens: -1 }), 400],
    ['seed 1e300', () => completion({ seed: 1e300 }), 400],
    ['n 1e308', () => completion({ n: 1e308 }), 400],
    ['token id 1e300', () => completion({ prompt: [1e300] }), 400],
    ['token id beyond the vocabulary', () => completion({ prompt: [2 ** 31] }), 400],
    ['more token ids than the context', () => completion({ prompt: Array.from({ length: 1100 }, () => 1) }), 400],
    ['a model name of 100k characters', () => completion({ model: 'm'.repeat(100_000) }), 404],
    // Bodies and encodings.
    ['invalid UTF-8', () => post('/v1/completions', Buffer.concat([Buffer.from('{"prompt":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])), 400],
    ['a UTF-16 body', () => post('/v1/completions', Buffer.from('{"prompt":"x"}', 'utf16le')), 400],
    ['bad JSON', () => chatRaw('{"messages": [}'), 400],
    ['trailing garbage', () => chatRaw('{"messages":[{"role":"user","content":"x"}]} x'), 400],
    ['an empty body', () => chatRaw(''), 400],
    ['JSON null', () => chatRaw('null'), 400],
    ['a JSON string', () => chatRaw('"hello"'), 400],
    ['NaN', () => post('/v1/completions', '{"prompt":"x","temperature":NaN}'), 400],
    ['wrong content type', () => post('/v1/completions', '{"prompt":"x"}', { 'content-type': 'text/plain' }), 415],
    ['no content type', () => post('/v1/completions', '{"prompt":"x"}', {}), 415],
    ['gzip content encoding', () => post('/v1/completions', '{"prompt":"x"}', { ...json, 'content-encoding': 'gzip' }), 415],
    ['a declared body over the limit', raw(`POST /v1/completions HTTP/1.1\r\nHost: w\r\n${K}Content-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n`), 413],
    // Routes and methods.
    ['GET /v1/completions', () => get('/v1/completions'), 405],
    ['DELETE /v1/models', () => fetch(`${w.url}/v1/models`, { method: 'DELETE', headers: auth() }), 405],
    ['an unknown /v1 route', () => get('/v1/embeddings'), 404],
    ['a path with a NUL', () => get('/v1/models/a%00b'), 404],
    // Malformed HTTP (raw: nothing in between to fix it up).
    ['an unknown method', raw('BREW /v1/models HTTP/1.1\r\nHost: w\r\n\r\n'), 400],
    ['a non-numeric Content-Length', raw(`POST /v1/completions HTTP/1.1\r\nHost: w\r\n${K}Content-Length: abc\r\n\r\n`), 400],
    ['Content-Length and Transfer-Encoding', raw(`POST /v1/completions HTTP/1.1\r\nHost: w\r\n${K}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`), 400],
    ['a bad chunk size', raw(`POST /v1/completions HTTP/1.1\r\nHost: w\r\n${K}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`), 400],
    ['a control character in a header', raw('GET /healthz HTTP/1.1\r\nHost: w\r\nX-A: a\x01b\r\n\r\n'), 400],
    ['a header without a colon', raw('GET /healthz HTTP/1.1\r\nHost: w\r\nnonsense\r\n\r\n'), 400],
    ['no Host header', raw(`GET /v1/models HTTP/1.1\r\n${K}\r\n`), 400],
    ['an unknown Expect', raw(`POST /v1/completions HTTP/1.1\r\nHost: w\r\n${K}Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}`), 417],
    ['HTTP/2 preface', raw('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 400],
    ['binary garbage', raw('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'), 400],
  ];

  let before: string;
  beforeAll(async () => { before = await metricsText(w.url); });

  it.each(table)('%s', async (_name, send, status) => {
    const r = await send();
    expect(r.status).toBe(status);
    let body: unknown;
    if (r instanceof Response) {
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      body = await r.json();
    } else {
      expect(r.contentType).toMatch(/^application\/json/);
      body = JSON.parse(r.body);
    }
    expect(body).toMatchObject({ error: { message: expect.any(String), type: 'invalid_request_error' } });
  });

  it.each([
    ['a lone surrogate', '\ud800'],
    ['a NUL character', 'a\u0000b'],
    ['special-token text', '<start_of_turn>user\nhi<end_of_turn>'],
    ['a right-to-left override', '\u202eabc'],
  ])('odd but valid text (%s) is served', async (_name, text) => {
    const r = await completion({ prompt: text });
    expect(r.status).toBe(200);
    const c = await content([{ type: 'text', text }]);
    expect(c.status).toBe(200);
  });

  it('none of it counted as internal, and the worker is healthy', async () => {
    const after = await metricsText(w.url);
    expect(count(after, 'internal')).toBe(count(before, 'internal'));
    expect(count(after, 'invalid_request')).toBeGreaterThan(count(before, 'invalid_request'));
    expect(w.logs.filter((l) => l.msg === 'unhandled error' || l.msg === 'generation failed')).toEqual([]);
    expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${w.url}/readyz`)).status).toBe(200);
  });
});

describe('a huge prompt does not stall /healthz', () => {
  const complete = (prompt: string | number[], extra: Record<string, unknown> = {}, signal?: AbortSignal) =>
    fetch(`${w.url}/v1/completions`, { method: 'POST', headers: { ...json, ...auth() }, body: JSON.stringify({ prompt, max_tokens: 1, ...extra }), signal });
  const gauge = async (name: string) => sample(await metricsText(w.url), `${name}{model="${MODEL}"}`);
  const until = async (cond: () => Promise<boolean>) => {
    for (let i = 0; i < 400 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
    expect(await cond()).toBe(true);
  };
  const logLine = async (match: (l: LogLine) => boolean) => {
    await until(async () => w.logs.some(match));
    return w.logs.filter(match).at(-1)!;
  };

  it('a prompt that cannot fit the context is refused without tokenizing it', async () => {
    const r = await complete('word '.repeat(1_500_000)); // 7.5 MB
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('context_length_exceeded');
    expect(body.error.message).toMatch(/at least \d+ tokens/);
    const line = await logLine((l) => l.msg === 'request' && l.status === 400 && /at least/.test(String(l.error)));
    expect(line.prompt_tokens).toBeUndefined();
  });

  it('a large prompt waits in the queue untokenized while /healthz answers; past the queue 429 at once', async () => {
    // The only sequence is busy with a long stream.
    const ac = new AbortController();
    const holder = complete('A long story:', { max_tokens: 400, stream: true }, ac.signal);
    const held = holder.then(async (r) => { for await (const _ of r.body!) { /* drain */ } }).catch(() => undefined);
    await until(async () => (await gauge('gen_ai_server_requests_running')) === 1);
    // A large prompt (just under the no-tokenization bound of 1024 × 31 code points, more tokens
    // than the context) waits in the queue.
    let bigDone = false;
    const big = complete('x'.repeat(30_000)).then((r) => { bigDone = true; return r; });
    await until(async () => (await gauge('gen_ai_server_requests_waiting')) === 1);
    // /healthz answers while the large prompt is being handled.
    const h = await fetch(`${w.url}/healthz`);
    expect(h.status).toBe(200);
    expect(bigDone).toBe(false);
    // Another one past the queue: 429 at once, without tokenizing anything.
    const over = await complete('y'.repeat(30_000));
    expect(over.status).toBe(429);
    expect(bigDone).toBe(false);
    const line429 = await logLine((l) => l.msg === 'request' && l.status === 429);
    expect(line429.prompt_tokens).toBeUndefined();
    // Once the sequence is free, the large prompt is tokenized and refused with its exact size.
    ac.abort();
    await held;
    const r = await big;
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/maximum context length is 1024 tokens, but the prompt has \d+ tokens/);
  }, 60_000);
});

describe('grammars: compiled only after admission, bounded, cached', () => {
  const chat = (extra: Record<string, unknown>, signal?: AbortSignal) => fetch(`${w.url}/v1/chat/completions`, {
    method: 'POST', headers: { ...json, ...auth() }, signal,
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Describe a person.' }], max_tokens: 3, temperature: 0, ...extra }),
  });
  const gauge = async (name: string) => sample(await metricsText(w.url), `${name}{model="${MODEL}"}`);
  const until = async (cond: () => Promise<boolean>) => {
    for (let i = 0; i < 400 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
    expect(await cond()).toBe(true);
  };
  // llama.cpp refuses this one when it compiles it (1,999 optional items of a group: "exceeds sane defaults").
  const refusedByLlamaCpp = jsonSchema({ type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } }, maxItems: 1999 });
  // Close to the bound (~14,000 rules): each compilation of it is the largest the worker accepts.
  const largeValid = jsonSchema({ type: 'object', properties: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 1999 - i }])) });

  it('a request refused with 429 compiled nothing: its schema was never looked at by the compiler', async () => {
    const ac = new AbortController();
    const holder = fetch(`${w.url}/v1/completions`, {
      method: 'POST', headers: { ...json, ...auth() }, signal: ac.signal, body: JSON.stringify({ prompt: 'A long story:', max_tokens: 400, stream: true }),
    });
    const held = holder.then(async (r) => { for await (const _ of r.body!) { /* drain */ } }).catch(() => undefined);
    await until(async () => (await gauge('gen_ai_server_requests_running')) === 1);
    const queued = chat({});
    await until(async () => (await gauge('gen_ai_server_requests_waiting')) === 1);
    // The queue is full: 429, where compiling first would have answered the compiler's 400.
    const over = await chat({ response_format: refusedByLlamaCpp });
    expect(over.status).toBe(429);
    ac.abort();
    await held;
    expect((await queued).status).toBe(200);
    // Admitted, the same request gets the compiler's refusal: a 400 naming the schema.
    const admitted = await chat({ response_format: refusedByLlamaCpp });
    expect(admitted.status).toBe(400);
    expect(await admitted.json()).toMatchObject({ error: { code: 'unsupported_schema', param: 'response_format.json_schema.schema', type: 'invalid_request_error' } });
  }, 60_000);

  it('16 concurrent requests with one large schema against one sequence: /healthz keeps answering, the rest get 429 at once', async () => {
    const probes: number[] = [];
    let done = false;
    const probing = (async () => {
      while (!done) {
        const t0 = performance.now();
        await fetch(`${w.url}/healthz`);
        probes.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = performance.now();
    const statuses = await Promise.all(Array.from({ length: 16 }, async () => {
      const r = await chat({ response_format: largeValid });
      await r.arrayBuffer();
      return r.status;
    }));
    const allMs = performance.now() - t0;
    done = true;
    await probing;
    const worst = Math.max(...probes);
    console.log(`16 × large schema: statuses ${JSON.stringify(statuses.sort())}, all answered in ${allMs.toFixed(0)} ms, `
      + `/healthz worst ${worst.toFixed(0)} ms over ${probes.length} probes`);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
    // Generous (a busy 2-core machine): before, /healthz went unanswered for 12-24 s.
    expect(worst).toBeLessThan(3000);
  }, 120_000);
});

describe('the event loop while this file ran', () => {
  it('reports the event-loop lag (nodejs_eventloop_lag_*) and /healthz latency; /healthz answered within seconds throughout', async () => {
    await metricsText(w.url);
    const sorted = [...healthzMs].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    const lagP99 = Math.max(...eventLoopLagSeen.map((l) => l.p99));
    const lagMax = Math.max(...eventLoopLagSeen.map((l) => l.max));
    console.log(`event loop during the hostile suite: lag p99 (worst scrape window) ${(lagP99 * 1000).toFixed(1)} ms, lag max ${(lagMax * 1000).toFixed(1)} ms `
      + `over ${eventLoopLagSeen.length} windows; /healthz p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms over ${sorted.length} probes`);
    expect(eventLoopLagSeen.length).toBeGreaterThan(10);
    expect(sorted.length).toBeGreaterThan(50);
    // Generous bounds for a busy shared machine; the figures above are the measurement.
    expect(sorted.at(-1)!).toBeLessThan(5000);
    expect(lagMax).toBeLessThan(5);
  });
});
