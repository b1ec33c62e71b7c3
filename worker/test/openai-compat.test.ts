// The OpenAI API beyond plain text that agents and RAG apps use (tools, structured output,
// penalties) and prompt-prefix reuse, on the real test model with the official openai client.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { metricsText, sample, startWorker, testModelPath } from './support.ts';
import type { WorkerProc } from './support.ts';

jest.setTimeout(120_000);

const MODEL = 'gemma-test';
let w: WorkerProc;
let client: OpenAI;

beforeAll(async () => {
  w = await startWorker(['--model', testModelPath(), '--model-name', MODEL, '--parallel', '2', '--queue-size', '8',
    '--context-size', '1024', '--threads', '1', '--gpu', 'false']);
  client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: 'none', maxRetries: 0 });
}, 90_000);

afterAll(async () => {
  await w?.stop();
});

const Weather = z.object({ city: z.string().max(40), unit: z.enum(['celsius', 'fahrenheit']) }).strict();
const weatherTool: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather of a city', parameters: z.toJSONSchema(Weather) as Record<string, unknown> },
};
const timeTool: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_time', description: 'Current time in a timezone', parameters: { type: 'object', properties: { tz: { type: 'string', maxLength: 30 } }, required: ['tz'] } },
};
const ask: ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

describe('tools', () => {
  it('a named tool_choice forces a call whose arguments validate against the schema', async () => {
    const r = await client.chat.completions.create({
      model: MODEL, messages: ask, tools: [weatherTool, timeTool], tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0, max_tokens: 60,
    });
    const c = r.choices[0]!;
    expect(c.finish_reason).toBe('tool_calls');
    expect(c.message.content).toBeNull();
    expect(c.message.tool_calls).toHaveLength(1);
    const call = c.message.tool_calls![0]!;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_\w+$/);
    if (call.type !== 'function') throw new Error('not a function call');
    expect(call.function.name).toBe('get_weather');
    Weather.parse(JSON.parse(call.function.arguments));
  });

  it("'required' with several tools picks one and its arguments validate", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: ask, tools: [weatherTool, timeTool], tool_choice: 'required', temperature: 0, max_tokens: 80 });
    const c = r.choices[0]!;
    expect(c.finish_reason).toBe('tool_calls');
    const call = c.message.tool_calls![0]!;
    if (call.type !== 'function') throw new Error('not a function call');
    expect(['get_weather', 'get_time']).toContain(call.function.name);
    const args: unknown = JSON.parse(call.function.arguments);
    if (call.function.name === 'get_weather') Weather.parse(args);
    else z.object({ tz: z.string() }).parse(args);
  });

  it('streams a forced call as delta.tool_calls chunks that add up to the non-streamed call', async () => {
    const req = { model: MODEL, messages: ask, tools: [weatherTool], tool_choice: { type: 'function' as const, function: { name: 'get_weather' } }, temperature: 0, max_tokens: 60 };
    const full = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true });
    let name = '';
    let args = '';
    let id: string | undefined;
    let finish: string | null = null;
    let argChunks = 0;
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta;
      for (const tc of d?.tool_calls ?? []) {
        expect(tc.index).toBe(0);
        if (tc.id) id = tc.id;
        if (tc.function?.name) name += tc.function.name;
        if (tc.function?.arguments) { args += tc.function.arguments; argChunks++; }
      }
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    }
    expect(id).toMatch(/^call_/);
    expect(name).toBe('get_weather');
    expect(finish).toBe('tool_calls');
    expect(argChunks).toBeGreaterThan(1);
    const call = full.choices[0]!.message.tool_calls![0]!;
    if (call.type !== 'function') throw new Error('not a function call');
    expect(args).toBe(call.function.arguments);

    // The official client's helper accumulates the stream into the same call.
    const runner = client.chat.completions.stream(req);
    const final = await runner.finalChatCompletion();
    const fc = final.choices[0]!.message.tool_calls![0]!;
    if (fc.type !== 'function') throw new Error('not a function call');
    expect(fc.function.arguments).toBe(call.function.arguments);
  });

  it("'auto' with a tool result in the history: the conversation continues", async () => {
    const messages: ChatCompletionMessageParam[] = [
      ...ask,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21, "sky": "sunny"}' },
    ];
    const r = await client.chat.completions.create({ model: MODEL, messages, tools: [weatherTool], tool_choice: 'auto', temperature: 0, max_tokens: 24 });
    const c = r.choices[0]!;
    expect(['stop', 'length', 'tool_calls']).toContain(c.finish_reason);
    if (c.finish_reason === 'tool_calls') {
      const call = c.message.tool_calls![0]!;
      if (call.type !== 'function') throw new Error('not a function call');
      Weather.parse(JSON.parse(call.function.arguments));
    } else {
      expect(typeof c.message.content).toBe('string');
      expect(c.message.content!.length).toBeGreaterThan(0);
    }
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    // The same conversation streamed ends the same way.
    const stream = await client.chat.completions.create({ model: MODEL, messages, tools: [weatherTool], tool_choice: 'auto', temperature: 0, max_tokens: 24, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    }
    expect(finish).toBe(c.finish_reason);
    if (finish !== 'tool_calls') expect(text).toBe(c.message.content);
  });

  it('refuses malformed tools and histories with a 400 naming the parameter', async () => {
    const bad = async (body: Record<string, unknown>, param: string | RegExp) => {
      const r = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: ask, ...body }) });
      expect(r.status).toBe(400);
      const j = (await r.json()) as { error: { param: string; type: string } };
      expect(j.error.type).toBe('invalid_request_error');
      expect(j.error.param).toMatch(param);
    };
    await bad({ tools: 'x' }, 'tools');
    await bad({ tools: [{ type: 'code_interpreter' }] }, 'tools[0].type');
    await bad({ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name');
    await bad({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { n: { type: 'number', minimum: 3 } } } } }] }, 'tools[0].function.parameters.properties.n.minimum');
    await bad({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { s: { type: 'string', pattern: '^a' } } } } }] }, /pattern$/);
    await bad({ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice');
    await bad({ tool_choice: 'required' }, 'tool_choice');
    await bad({ tools: [weatherTool], response_format: { type: 'json_object' } }, 'response_format');
    await bad({ messages: [...ask, { role: 'tool', tool_call_id: 'x', content: 'r' }] }, 'messages[1].tool_call_id');
    await bad({ messages: [...ask, { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }] }] }, 'messages[1].tool_calls[0].function.arguments');
    await bad({ messages: [...ask, { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'user', content: 'hi' }] }, 'messages[1].tool_calls');
    await bad({ functions: [{ name: 'f' }] }, 'functions');
    // A hostile schema: nested beyond the limit.
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'array', items: deep };
    await bad({ response_format: { type: 'json_schema', json_schema: { name: 'deep', schema: deep } } }, /^response_format\.json_schema\.schema/);
    const t = await metricsText(w.url);
    expect(sample(t, `gen_ai_server_request_duration_seconds_count{model="${MODEL}",error_type="internal"}`)).toBe(0);
  });
});

describe('response_format', () => {
  it('json_schema: the output validates against the schema', async () => {
    // (No .int(): zod adds safe-integer minimum/maximum bounds, which a grammar cannot enforce: a 400.)
    const Person = z.object({ name: z.string().max(30), age: z.number(), tags: z.array(z.enum(['a', 'b', 'c'])).max(3) }).strict();
    const r = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Describe a person as JSON.' }], temperature: 0, max_tokens: 120,
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: z.toJSONSchema(Person) as Record<string, unknown> } },
    });
    expect(r.choices[0]!.finish_reason).toBe('stop');
    Person.parse(JSON.parse(r.choices[0]!.message.content!));
  });

  it('json_object: the output is a JSON object, streamed too', async () => {
    const req = { model: MODEL, messages: [{ role: 'user' as const, content: 'Give me a JSON object with your name.' }], temperature: 0, max_tokens: 100, response_format: { type: 'json_object' as const } };
    const r = await client.chat.completions.create(req);
    const full = r.choices[0]!.message.content!;
    if (r.choices[0]!.finish_reason === 'stop') expect(typeof JSON.parse(full)).toBe('object');
    else expect(full.trimStart().startsWith('{')).toBe(true);
    const stream = await client.chat.completions.create({ ...req, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(full);
  });
});

describe('penalties', () => {
  it('presence, frequency and repeat penalties are accepted and change a repetitive greedy output', async () => {
    const prompt = 'one two one two one two one two one two';
    const base = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0 });
    const pen = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0, presence_penalty: 1.5, frequency_penalty: 1.5 });
    expect(pen.choices[0]!.text).not.toBe(base.choices[0]!.text);
    const rep = await client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0, repeat_penalty: 1.8 } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(rep.choices[0]!.text).not.toBe(base.choices[0]!.text);
    const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 8, temperature: 0, presence_penalty: 0.5, frequency_penalty: -0.5 });
    expect(chat.usage!.completion_tokens).toBeGreaterThan(0);
    await expect(client.completions.create({ model: MODEL, prompt, presence_penalty: 3 })).rejects.toMatchObject({ status: 400, param: 'presence_penalty' });
  });
});

describe('logprobs', () => {
  it('chat: the chosen token and its top alternatives, streamed as not; greedy picks the most likely', async () => {
    const req = { model: MODEL, messages: [{ role: 'user' as const, content: 'Count: one, two,' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 };
    const r = await client.chat.completions.create(req);
    const lp = r.choices[0]!.logprobs!.content!;
    expect(lp).toHaveLength(r.usage!.completion_tokens);
    for (const e of lp) {
      expect(e.logprob).toBeLessThanOrEqual(0);
      expect(e.top_logprobs).toHaveLength(3);
      expect(e.top_logprobs[0]!.token).toBe(e.token);
      expect(e.top_logprobs[0]!.logprob).toBeCloseTo(e.logprob, 5);
      expect(e.top_logprobs[1]!.logprob).toBeLessThanOrEqual(e.top_logprobs[0]!.logprob);
      expect(Buffer.from(e.bytes!).toString('utf8')).toBe(e.token);
    }
    expect(lp.map((e) => e.token).join('')).toBe(r.choices[0]!.message.content);
    const stream = await client.chat.completions.create({ ...req, stream: true });
    const streamed: string[] = [];
    for await (const chunk of stream) for (const e of chunk.choices[0]?.logprobs?.content ?? []) streamed.push(e.token);
    expect(streamed).toEqual(lp.map((e) => e.token));
  });

  it('completions: logprobs as the number of alternatives', async () => {
    const r = await client.completions.create({ model: MODEL, prompt: 'The sky is', max_tokens: 4, temperature: 0, logprobs: 2 });
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(4);
    expect(lp.token_logprobs!.every((x) => x <= 0)).toBe(true);
    expect(Object.keys(lp.top_logprobs![0]!).length).toBeGreaterThanOrEqual(1);
    expect(lp.text_offset![1]).toBe(lp.tokens![0]!.length);
    await expect(client.completions.create({ model: MODEL, prompt: 'x', logprobs: 6 })).rejects.toMatchObject({ status: 400, param: 'logprobs' });
  });
});

describe('prompt-prefix reuse', () => {
  const system = `You are a helpful assistant for the city library. ${'The library opens at nine and closes at six; it lends books, music and films. '.repeat(12)}`;
  const questions = ['When does it open?', 'Can I borrow films?', 'Where is it?', 'Is it free?'];

  it('reuses a shared prefix (cached_tokens, counter, log) and greedy outputs equal those computed without reuse, under concurrency', async () => {
    const reqFor = (q: string) => ({
      model: MODEL, messages: [{ role: 'system' as const, content: system }, { role: 'user' as const, content: q }], max_tokens: 16, temperature: 0,
      logprobs: true, top_logprobs: 2,
    });
    // Reference outputs on a worker that reuses nothing (the same layout: 2 sequences).
    const fresh = await startWorker(['--model', testModelPath(), '--model-name', MODEL, '--parallel', '2', '--context-size', '1024', '--threads', '1', '--gpu', 'false']);
    const expected: OpenAI.ChatCompletionTokenLogprob[][] = [];
    try {
      const c = new OpenAI({ baseURL: `${fresh.url}/v1`, apiKey: 'none', maxRetries: 0 });
      for (const q of questions) {
        // An unrelated prompt in between: the sequences then hold nothing of the next one.
        await Promise.all([0, 1].map(() => c.completions.create({ model: MODEL, prompt: 'zebra', max_tokens: 1, temperature: 0 })));
        const r = await c.chat.completions.create(reqFor(q));
        expect(r.usage!.prompt_tokens_details!.cached_tokens).toBeLessThan(3);
        expected.push(r.choices[0]!.logprobs!.content!);
      }
    } finally {
      await fresh.stop();
    }
    const before = await metricsText(w.url);
    // Warm both sequences with the shared system prompt.
    await Promise.all([client.chat.completions.create(reqFor('hello')), client.chat.completions.create(reqFor('hi'))]);
    // Concurrent requests sharing the prefix: every one reuses it.
    const got = await Promise.all(questions.map((q) => client.chat.completions.create(reqFor(q))));
    // Equal greedy tokens. llama.cpp's CPU kernels are not batch-invariant (the batch and KV-cache
    // layout of concurrent requests change the last bits of the logits, with or without reuse), so
    // the comparison stops at a near-tie of the reference (top two within 0.05 nats), where either
    // token is a correct greedy choice.
    // The near-tie token itself is not compared either (seen: " are" -1.1346 vs " can" -1.1426 in
    // the reference, " can" under concurrency).
    let compared = 0;
    for (const [i, r] of got.entries()) {
      const toks = r.choices[0]!.logprobs!.content!;
      for (const [k, ref] of expected[i]!.entries()) {
        const [a, b] = ref.top_logprobs;
        if (a && b && a.logprob - b.logprob < 0.05) break;
        expect(toks[k]?.token).toBe(ref.token);
        compared++;
      }
      expect(r.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(150);
      expect(r.usage!.prompt_tokens_details!.cached_tokens).toBeLessThan(r.usage!.prompt_tokens);
    }
    expect(compared).toBeGreaterThanOrEqual(20);
    const after = await metricsText(w.url);
    const cached = (t: string) => sample(t, `gen_ai_server_prompt_cached_tokens_total{model="${MODEL}"}`) ?? 0;
    const sum = got.reduce((n, r) => n + r.usage!.prompt_tokens_details!.cached_tokens!, 0);
    expect(cached(after) - cached(before)).toBeGreaterThanOrEqual(sum);
    const logged = w.logs.filter((l) => l.msg === 'request' && typeof l.cached_tokens === 'number' && (l.cached_tokens as number) > 150);
    expect(logged.length).toBeGreaterThanOrEqual(questions.length);
  }, 300_000);
});
