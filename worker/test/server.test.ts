// The worker as a real child process on the real test model, driven by the official openai client.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import OpenAI from 'openai';
import { metricsText, promtoolPath, sample, startWorker, testModelPath } from './support.ts';
import type { WorkerProc } from './support.ts';

// Generous: the machine's 2 cores are shared with other suites and builds.
jest.setTimeout(60_000);

const MODEL = 'gemma-test';
const SLO_BUCKETS = [0.125, 0.5, 3, 7.25];
let w: WorkerProc;
let client: OpenAI;

const dur = (t: string, e: string) => sample(t, `gen_ai_server_request_duration_seconds_count{model="${MODEL}",error_type="${e}"}`) ?? 0;

beforeAll(async () => {
  w = await startWorker(['--model', testModelPath(), '--model-name', MODEL, '--parallel', '2', '--queue-size', '1',
    '--context-size', '512', '--max-body-bytes', '65536',
    // One thread: on a busy 2-core machine a 2-thread ggml barrier collapses (see docs/worker.md); the
    // default (= CPUs available, never more) is covered by lifecycle.test.ts.
    '--threads', '1', '--slo-buckets', SLO_BUCKETS.join(','), '--gpu', 'false']);
  client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: 'none', maxRetries: 0 });
}, 90_000);

afterAll(async () => {
  await w?.stop();
});

describe('OpenAI API with the official client', () => {
  it('lists the model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
  });

  it('chat, non-streaming: usage and finish_reason length', async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name a colour.' }], max_tokens: 6, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(typeof r.choices[0]!.message.content).toBe('string');
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(6);
    expect(r.usage!.prompt_tokens).toBeGreaterThan(5);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 6);
  });

  it('chat, streaming with include_usage: the streamed text equals the non-streamed one and usage matches', async () => {
    const req = { model: MODEL, messages: [{ role: 'user' as const, content: 'Tell me about the sea.' }], max_completion_tokens: 10, temperature: 0 };
    const full = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let contentChunks = 0;
    let finish: string | null = null;
    let usage;
    let roleSeen = false;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      if (c.delta.role === 'assistant') roleSeen = true;
      if (c.delta.content) { text += c.delta.content; contentChunks++; }
      if (c.finish_reason) finish = c.finish_reason;
    }
    expect(roleSeen).toBe(true);
    expect(finish).toBe('length');
    expect(text).toBe(full.choices[0]!.message.content);
    // Equal but for the cached prompt tokens: the second request reuses the first one's prompt.
    expect({ ...usage, prompt_tokens_details: undefined }).toEqual({ ...full.usage, prompt_tokens_details: undefined });
    expect(usage!.prompt_tokens_details!.cached_tokens).toBe(usage!.prompt_tokens - 1);
    expect(usage!.completion_tokens).toBe(10);
    // One chunk per token, except where a token only completes a UTF-8 character with the next one.
    expect(contentChunks).toBeGreaterThanOrEqual(8);
    expect(contentChunks).toBeLessThanOrEqual(10);
  });

  it('completions, streaming and not; prompt as token ids; stop sequences', async () => {
    const prompt = 'The history of the city of Rome begins';
    const full = await client.completions.create({ model: MODEL, prompt, max_tokens: 16, temperature: 0 });
    expect(full.object).toBe('text_completion');
    expect(full.usage!.completion_tokens).toBe(16);
    expect(full.choices[0]!.finish_reason).toBe('length');
    const text = full.choices[0]!.text;

    const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let streamed = '';
    let usage;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(streamed).toBe(text);
    expect({ ...usage, prompt_tokens_details: undefined }).toEqual({ ...full.usage, prompt_tokens_details: undefined });

    // A stop string cuts the text before it, with finish_reason "stop".
    const words = text.trim().split(/\s+/);
    const stopWord = words[Math.min(3, words.length - 1)]!;
    const cut = await client.completions.create({ model: MODEL, prompt, max_tokens: 16, temperature: 0, stop: [stopWord, 'zzzz-never'] });
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    expect(cut.choices[0]!.text).toBe(text.slice(0, text.indexOf(stopWord)));
    expect(cut.choices[0]!.text).not.toContain(stopWord);

    const ids = await client.completions.create({ model: MODEL, prompt: [2, 818, 3925], max_tokens: 3, temperature: 0 });
    expect(ids.usage!.prompt_tokens).toBe(3);
  });

  it('seed makes sampling reproducible; top_p is accepted', async () => {
    const req = { model: MODEL, prompt: 'Once upon a time', max_tokens: 12, temperature: 1.2, top_p: 0.95, seed: 1234 };
    const a = await client.completions.create(req);
    const b = await client.completions.create(req);
    expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
  });

  it('rejects unsupported options with an OpenAI-shaped 400', async () => {
    await expect(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], n: 2 }))
      .rejects.toMatchObject({ status: 400, param: 'n', type: 'invalid_request_error' });
    await expect(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'custom', custom: { name: 'f' } }] }))
      .rejects.toMatchObject({ status: 400, param: 'tools[0].type' });
    await expect(client.chat.completions.create({ model: 'other-model', messages: [{ role: 'user', content: 'x' }] }))
      .rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });
});

describe('bad input never crashes it', () => {
  const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${w.url}${path}`, { method: 'POST', body, headers });
  it.each([
    ['malformed JSON', () => post('/v1/chat/completions', '{"messages": [', undefined), 400, /malformed JSON/],
    ['body over the limit', () => post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(100_000) })), 413, /exceeds the limit of 65536 bytes/],
    ['prompt longer than the context', () => post('/v1/completions', JSON.stringify({ prompt: 'word '.repeat(700) })), 400, /maximum context length is 512 tokens, but the prompt has \d+ tokens/],
    ['wrong content type', () => post('/v1/chat/completions', 'hello', { 'content-type': 'text/plain' }), 415, /application\/json/],
    ['unknown route', () => fetch(`${w.url}/v1/embeddings`, { method: 'POST' }), 404, /no route/],
    ['wrong method', () => fetch(`${w.url}/v1/chat/completions`), 405, /POST/],
    ['not an object', () => post('/v1/chat/completions', '[1,2]'), 400, /JSON object/],
    ['token id out of the vocabulary', () => post('/v1/completions', JSON.stringify({ prompt: [99999999] })), 400, /vocabulary/],
  ])('%s', async (_name, send, status, message) => {
    const r = await (send as () => Promise<Response>)();
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await r.json()) as { error: { message: string; type: string } };
    expect(body.error.message).toMatch(message);
    expect(typeof body.error.type).toBe('string');
  });
  it('is still healthy afterwards', async () => {
    expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${w.url}/readyz`)).status).toBe(200);
  });
});

describe('concurrency', () => {
  it('runs --parallel streams together, queues one, answers 429 past the queue; an aborted stream frees its slot at once', async () => {
    const until = async (cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 2400 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
      expect(await cond()).toBe(true);
    };
    const idle = (t: string) => sample(t, `gen_ai_server_requests_running{model="${MODEL}"}`) === 0 && sample(t, `gen_ai_server_requests_waiting{model="${MODEL}"}`) === 0;
    await until(async () => idle(await metricsText(w.url)));
    const before = await metricsText(w.url);
    const events: string[] = [];
    const ctl: Record<string, AbortController> = {};
    const stream = (name: string, maxTokens: number, abortAfter?: number) => (async () => {
      const ac = (ctl[name] = new AbortController());
      const s = await client.completions.create({ model: MODEL, prompt: 'A long story: ', max_tokens: maxTokens, temperature: 0, stream: true }, { signal: ac.signal });
      let n = 0;
      try {
        for await (const _ of s) {
          if (n++ === 0) events.push(`${name}:first`);
          if (n === abortAfter) { events.push(`${name}:abort`); ac.abort(); }
        }
        events.push(`${name}:done`);
      } catch (e) {
        if (!ac.signal.aborted) throw e;
        events.push(`${name}:aborted`);
      }
    })();
    // Two long streams hold both sequences at once.
    const a = stream('a', 400, 3);
    const b = stream('b', 400);
    await until(() => events.includes('a:first') && events.includes('b:first'));
    await a; // a aborts itself after 3 chunks: its sequence is free again
    // The freed slot serves the next request at once, while b is still running.
    await stream('c', 2);
    expect(events).toContain('c:done');
    expect(events).not.toContain('b:done');
    // Fill the free slot again, queue one request (queue size 1): the next gets 429 + Retry-After.
    const d = stream('d', 400);
    await until(() => events.includes('d:first'));
    const f = stream('f', 2);
    await new Promise((r) => setTimeout(r, 150));
    const r = await fetch(`${w.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 1 }) });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('overloaded');
    expect(events).not.toContain('f:first');
    // Aborting b hands its sequence to the queued f.
    ctl.b!.abort();
    await f;
    expect(events).toContain('f:done');
    ctl.d!.abort();
    await Promise.all([b, d]);
    // The server records a cancelled request when it notices the disconnect (next token).
    let after = '';
    await until(async () => {
      after = await metricsText(w.url);
      return dur(after, 'cancelled') - dur(before, 'cancelled') === 3 && sample(after, `gen_ai_server_requests_running{model="${MODEL}"}`) === 0;
    });
    expect(dur(after, 'overloaded') - dur(before, 'overloaded')).toBe(1);
    expect(dur(after, '') - dur(before, '')).toBe(2);
    expect(sample(after, `gen_ai_server_requests_running{model="${MODEL}"}`)).toBe(0);
  }, 180_000);
});

describe('metrics', () => {
  it('counts K requests, carries every --slo-buckets boundary, labels failures, passes promtool', async () => {
    const before = await metricsText(w.url);
    expect(sample(before, `gen_ai_server_requests_running{model="${MODEL}"}`)).toBe(0);
    const K = 3;
    for (let i = 0; i < K; i++) await client.completions.create({ model: MODEL, prompt: `n${i}`, max_tokens: 3, temperature: 0 });
    await fetch(`${w.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    const t = await metricsText(w.url);
    expect(dur(t, '') - dur(before, '')).toBe(K);
    expect(dur(t, 'invalid_request') - dur(before, 'invalid_request')).toBe(1);
    const ttft = (s: string) => sample(s, `gen_ai_server_time_to_first_token_seconds_count{model="${MODEL}"}`)!;
    const tpot = (s: string) => sample(s, `gen_ai_server_time_per_output_token_seconds_count{model="${MODEL}"}`)!;
    expect(ttft(t) - ttft(before)).toBe(K);
    expect(tpot(t) - tpot(before)).toBe(K);
    const gen = (s: string) => sample(s, `gen_ai_server_generated_tokens_total{model="${MODEL}"}`)!;
    expect(gen(t) - gen(before)).toBe(3 * K);
    for (const h of ['gen_ai_server_request_duration_seconds', 'gen_ai_server_time_to_first_token_seconds', 'gen_ai_server_time_per_output_token_seconds']) {
      for (const b of SLO_BUCKETS) {
        const labels = h === 'gen_ai_server_request_duration_seconds' ? `le="${b}",model="${MODEL}",error_type=""` : `le="${b}",model="${MODEL}"`;
        expect(sample(t, `${h}_bucket{${labels}}`)).toBeDefined();
      }
    }
    for (const e of ['', 'invalid_request', 'cancelled', 'overloaded', 'timeout', 'internal']) expect(dur(t, e)).toBeDefined();
    expect(t).toMatch(/^gen_ai_server_prompt_tokens_total\{model="gemma-test"\} \d+/m);
    expect(t).toMatch(/^gen_ai_server_requests_running\{model="gemma-test"\} 0/m);
    expect(t).toMatch(/^gen_ai_server_requests_waiting\{model="gemma-test"\} 0/m);
    expect(t).toMatch(/^gen_ai_server_model_load_duration_seconds\{model="gemma-test"\} [\d.]+/m);
    expect(t).toMatch(/^process_resident_memory_bytes \d+/m);
    // No user input in labels: every model label is the configured name.
    for (const m of t.matchAll(/model="([^"]*)"/g)) expect(m[1]).toBe(MODEL);
    const out = execFileSync(promtoolPath(), ['check', 'metrics'], { input: t, encoding: 'utf8' });
    expect(out).toBe('');
  });

  it('exports the model header\'s facts as the operator\'s own reader (src/sizing) reads them from the same file', async () => {
    const t = await metricsText(w.url);
    expect(sample(t, `gen_ai_server_model_info{model="${MODEL}",file="gemma-3-270m-q4_k_m.gguf",architecture="gemma3",quantization="Q4_K_M"}`)).toBe(1);
    // `qwen-operator size --model-file` on the test model reads exactly these.
    const operatorReads = {
      parameters: 268098176, fileSize: 253113024, weightsBytes: 246587904, decodeBytes: 246587904, layers: 18, kvHeads: 1, heads: 4,
      headDim: 256, valueHeadDim: 256, embeddingLength: 640, feedForwardLength: 2048, vocabSize: 262144, trainedContext: 32768, slidingWindow: 512,
    };
    const exported = Object.fromEntries([...t.matchAll(/^gen_ai_server_model_fact\{model="([^"]*)",fact="(\w+)"\} (\S+)$/gm)].map((m) => [m[2], Number(m[3])]));
    expect(exported).toEqual(operatorReads);
  });

  it('uses the --threads given (within the CPUs available)', () => {
    const ready = w.logs.find((l) => l.msg === 'ready')!;
    expect(ready.threads).toBe(1);
    expect(ready.threads).toBeLessThanOrEqual(os.availableParallelism());
  });
});
