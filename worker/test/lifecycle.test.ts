// Timeouts, the separate metrics port, thread clamping and SIGTERM draining, on a real worker.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import os from 'node:os';
import OpenAI from 'openai';
import { rawRequest, sample, startWorker, testModelPath } from './support.ts';
import type { WorkerProc } from './support.ts';
import { METRIC, WORKER_DEFAULT } from '../src/contract.ts';

jest.setTimeout(60_000);

let w: WorkerProc;
let metricsUrl: string;
let client: OpenAI;

beforeAll(async () => {
  w = await startWorker(['--model', testModelPath(), '--model-name', 'm', '--parallel', '1', '--queue-size', '2',
    '--request-timeout', '20', '--threads', '64', '--drain-timeout', '30', '--metrics-port', '0', '--gpu', 'false']);
  const listening = w.logs.find((l) => l.msg === 'listening; loading model')!;
  metricsUrl = `http://127.0.0.1:${listening.metricsPort as number}`;
  client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: 'none', maxRetries: 0 });
}, 90_000);

afterAll(async () => {
  if (w && w.proc.exitCode === null) w.proc.kill('SIGKILL');
});

describe('worker lifecycle', () => {
  it('clamps --threads to the CPUs this process may use', () => {
    expect(w.logs.some((l) => l.msg?.includes('--threads exceeds') && l.requested === 64)).toBe(true);
    const ready = w.logs.find((l) => l.msg === 'ready')!;
    expect(ready.threads).toBeLessThanOrEqual(os.availableParallelism());
  });

  it('serves /metrics on --metrics-port only', async () => {
    expect((await fetch(`${metricsUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${w.url}/metrics`)).status).toBe(404);
  });

  it('answers 504 past --request-timeout, with error_type="timeout"', async () => {
    const t0 = Date.now();
    const long = client.completions.create({ model: 'm', prompt: 'Count: 1, 2, 3,', max_tokens: 3000, temperature: 0 });
    const settled = long.catch((e: unknown) => e);
    // Meanwhile a second request waits in the queue (parallel 1) and its client gives up: it
    // leaves the queue at once and counts as cancelled.
    await new Promise((r) => setTimeout(r, 300));
    const ac = new AbortController();
    const queued = fetch(`${w.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 2 }), signal: ac.signal }).catch((e: unknown) => e);
    const gauge = async (name: string) => sample(await (await fetch(`${metricsUrl}/metrics`)).text(), `${name}{model="m"}`);
    for (let i = 0; i < 100 && (await gauge('gen_ai_server_requests_waiting')) !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await gauge('gen_ai_server_requests_waiting')).toBe(1);
    ac.abort();
    await queued;
    for (let i = 0; i < 100 && (await gauge('gen_ai_server_requests_waiting')) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await gauge('gen_ai_server_requests_waiting')).toBe(0);
    expect(await gauge('gen_ai_server_requests_running')).toBe(1);
    await expect(long).rejects.toMatchObject({ status: 504, code: 'timeout' });
    await settled;
    expect(Date.now() - t0).toBeLessThan(30_000);
    const t = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(sample(t, 'gen_ai_server_request_duration_seconds_count{model="m",error_type="timeout"}')).toBe(1);
    expect(sample(t, 'gen_ai_server_request_duration_seconds_count{model="m",error_type="cancelled"}')).toBe(1);
    expect(sample(t, 'gen_ai_server_requests_running{model="m"}')).toBe(0);
  }, 60_000);

  it('reports the KV cells a running request holds (the inference gateway\'s KV-cache utilization), none once it ends', async () => {
    const gauge = async () => sample(await (await fetch(`${metricsUrl}/metrics`)).text(), `${METRIC.kvCacheUsage}{model="m"}`)!;
    const cells = WORKER_DEFAULT.contextSize * 1; // --parallel 1
    expect(await gauge()).toBe(0);
    const prompt = `Count: ${Array.from({ length: 120 }, (_, i) => i + 1).join(', ')},`;
    const { usage } = await client.completions.create({ model: 'm', prompt, max_tokens: 1, temperature: 0 });
    const promptTokens = usage!.prompt_tokens;
    expect(promptTokens).toBeGreaterThan(200);
    expect(await gauge()).toBe(0);
    const stream = await client.completions.create({ model: 'm', prompt, max_tokens: 2000, temperature: 0, stream: true });
    const seen: number[] = [];
    let chunks = 0;
    for await (const _chunk of stream) {
      chunks++;
      // After the first chunk the prompt is in the cache; after the 6th, at least 5 generated tokens too
      // (a token is streamed once sampled, which needs the previous one evaluated).
      if (chunks === 1 || chunks === 6) seen.push(await gauge());
      if (chunks === 6) break; // ends the stream: the client's cancel releases the sequence
    }
    expect(seen[0]! * cells).toBeGreaterThanOrEqual(promptTokens);
    expect(seen[1]! * cells).toBeGreaterThanOrEqual(promptTokens + 5);
    expect(seen[1]!).toBeLessThanOrEqual(1);
    for (let i = 0; i < 100 && (await gauge()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await gauge()).toBe(0);
  }, 60_000);

  it('drains on SIGTERM: readyz 503, new requests 503, the in-flight stream finishes, exit 0; half-sent requests do not hold it up', async () => {
    // Two slow clients: half a header, and half a body (Content-Length 100, one byte sent). With
    // --body-timeout and --drain-timeout at their 30 s defaults, neither may delay the exit.
    const halfHeader = rawRequest(w.port, 'POST /v1/completions HTTP/1.1\r\nHost: w\r\nX-A: ', { timeoutMs: 20_000 });
    const halfBody = rawRequest(w.port, 'POST /v1/completions HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{', { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    // Few tokens: on a loaded 2-core machine (2 threads, other suites) a token can take over a second.
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 6, temperature: 0, stream: true });
    let chunks = 0;
    let finish: string | null = null;
    let signalled = false;
    for await (const c of stream) {
      chunks++;
      if (!signalled) {
        signalled = true;
        w.proc.kill('SIGTERM');
        // Until the in-flight request ends: not ready, and new work is refused.
        await new Promise((r) => setTimeout(r, 50));
        expect((await fetch(`${w.url}/readyz`)).status).toBe(503);
        const r = await fetch(`${w.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 1 }) });
        expect(r.status).toBe(503);
      }
      if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    }
    expect(finish).toBe('length');
    expect(chunks).toBeGreaterThan(3);
    expect(await w.exited).toBe(0);
    expect(w.logs.some((l) => l.msg === 'drained')).toBe(true);
    // Both slow connections were closed by the drain, not by a timeout.
    await Promise.all([halfHeader, halfBody]);
    expect(w.logs.find((l) => l.msg === 'request' && l.status === 408)).toMatchObject({
      error_type: 'invalid_request', error: 'the server shut down before the request body arrived completely',
    });
  }, 60_000);
});
