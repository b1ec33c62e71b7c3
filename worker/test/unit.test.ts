import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BatchItem, Token } from 'node-llama-cpp';
import { ApiKeyError, ApiKeys, parseKeys } from '../src/auth.ts';
import { ConfigError, DEFAULT_MODEL, parseConfig, parseSloBuckets } from '../src/config.ts';
import { WORKER_DEFAULT } from '../src/contract.ts';
import { fairShareInSequenceOrder, microBatchesAdded, SequenceOrder } from '../src/batch-order.ts';
import { codePoints } from '../src/engine.ts';
import { availableCpus, cgroupCpuLimit, resolveThreads } from '../src/cpus.ts';
import { DEFAULT_DURATION_BUCKETS, mergeBuckets } from '../src/metrics.ts';
import { cachePathFor, hfUrl, parseModelSpec, redactModelSpec, redactUrl } from '../src/model-source.ts';
import { ApiError } from '../src/api-error.ts';
import { parseChatRequest, parseCompletionRequest } from '../src/openai.ts';
import { ReasoningSplitter, splitReasoning } from '../src/reasoning.ts';

describe('flags', () => {
  it('parses every flag the operator passes', () => {
    const c = parseConfig(['--model', '/m.gguf', '--model-sha256', 'A'.repeat(64), '--host', '127.0.0.1', '--port', '9000',
      '--metrics-port', '9001', '--parallel', '4', '--context-size', '2048', '--threads', '2', '--slo-buckets', '3,0.5,3.0',
      '--model-name', 'qwen', '--gpu', 'false', '--download-stall-timeout', '5', '--queue-size', '2'], {});
    expect(c).toMatchObject({ model: '/m.gguf', modelSha256: 'a'.repeat(64), host: '127.0.0.1', port: 9000, metricsPort: 9001,
      parallel: 4, contextSize: 2048, threads: 2, sloBuckets: [0.5, 3], modelName: 'qwen', gpu: false, downloadStallTimeoutS: 5, queueSize: 2 });
  });
  it('has production defaults', () => {
    const c = parseConfig([], {});
    expect(c.model).toBe(DEFAULT_MODEL);
    expect(c.model).toBe('hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M');
    expect(c).toMatchObject({ port: 8080, parallel: 1, queueSize: 4, gpu: 'auto', metricsPort: undefined });
    // The defaults are the contract's (the operator's default port and the queue it leaves to the worker).
    expect(c).toMatchObject({ host: WORKER_DEFAULT.host, port: WORKER_DEFAULT.port, contextSize: WORKER_DEFAULT.contextSize });
    expect(parseConfig(['--parallel', '3'], {}).queueSize).toBe(WORKER_DEFAULT.queuePerSequence * 3);
    // Prompt-lookup decoding only when asked for (docs/worker.md says why).
    expect(c.promptLookup).toBe('off');
    expect(parseConfig(['--prompt-lookup', 'auto'], {}).promptLookup).toBe('auto');
  });
  it('has secure defaults for the shared-cluster flags', () => {
    const c = parseConfig([], {});
    expect(c).toMatchObject({ apiKeyFile: undefined, headersTimeoutS: 30, bodyTimeoutS: 30, keepAliveTimeoutS: 5, maxHeaderBytes: 16384, allowHttpDownload: false });
    expect(parseConfig(['--api-key-file', '/k', '--headers-timeout', '2', '--body-timeout', '3', '--keep-alive-timeout', '1',
      '--max-header-bytes', '8192', '--allow-http-download'], {})).toMatchObject({
      apiKeyFile: '/k', headersTimeoutS: 2, bodyTimeoutS: 3, keepAliveTimeoutS: 1, maxHeaderBytes: 8192, allowHttpDownload: true,
    });
    expect(() => parseConfig(['--headers-timeout', '10', '--body-timeout', '5'], {})).toThrow(/--body-timeout .* must be >= --headers-timeout/);
    expect(() => parseConfig(['--api-key-file', ''], {})).toThrow(/--api-key-file/);
    expect(() => parseConfig(['--max-header-bytes', '10'], {})).toThrow(/--max-header-bytes/);
  });
  it('rejects bad values with the flag name', () => {
    expect(() => parseConfig(['--parallel', '0'], {})).toThrow(/--parallel/);
    expect(() => parseConfig(['--gpu', 'tpu'], {})).toThrow(/--gpu/);
    expect(() => parseConfig(['--model-sha256', 'xyz'], {})).toThrow(/--model-sha256/);
    expect(() => parseConfig(['--bogus'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--prompt-lookup', 'maybe'], {})).toThrow(/--prompt-lookup must be one of on, off, auto/);
    expect(() => parseSloBuckets('1,abc')).toThrow(/abc/);
    expect(() => parseSloBuckets('-1')).toThrow();
  });
});

describe('buckets', () => {
  it('merges SLO thresholds into the defaults, sorted and unique', () => {
    const b = mergeBuckets(DEFAULT_DURATION_BUCKETS, [3, 0.04, 0.333]);
    expect(b).toContain(3);
    expect(b).toContain(0.333);
    expect(b.filter((x) => x === 0.04)).toHaveLength(1);
    expect([...b].sort((x, y) => x - y)).toEqual(b);
  });
});

describe('threads', () => {
  it('reads cgroup v2 and v1 quotas', () => {
    expect(cgroupCpuLimit((p) => (p === '/sys/fs/cgroup/cpu.max' ? '150000 100000\n' : undefined))).toBe(2);
    expect(cgroupCpuLimit((p) => (p === '/sys/fs/cgroup/cpu.max' ? 'max 100000\n' : undefined))).toBeUndefined();
    const v1: Record<string, string> = { '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' };
    expect(cgroupCpuLimit((p) => v1[p])).toBe(1);
  });
  it('never uses more threads than the CPUs available', () => {
    expect(availableCpus(2, 8)).toBe(2);
    expect(availableCpus(undefined, 4)).toBe(4);
    expect(resolveThreads(undefined, 2)).toEqual({ threads: 2, clamped: false });
    expect(resolveThreads(8, 2)).toEqual({ threads: 2, clamped: true });
    expect(resolveThreads(1, 2)).toEqual({ threads: 1, clamped: false });
  });
});

describe('model specs', () => {
  it('resolves hf:owner/repo:quant to the Hugging Face file URL', () => {
    expect(hfUrl('hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M')).toEqual({
      url: 'https://huggingface.co/unsloth/Qwen3-4B-Instruct-2507-GGUF/resolve/main/Qwen3-4B-Instruct-2507-Q4_K_M.gguf',
      fileName: 'Qwen3-4B-Instruct-2507-Q4_K_M.gguf',
    });
    expect(hfUrl('hf:Qwen/Qwen3-4B-GGUF/sub/Qwen3-4B-Q8_0.gguf').url).toBe('https://huggingface.co/Qwen/Qwen3-4B-GGUF/resolve/main/sub/Qwen3-4B-Q8_0.gguf');
    expect(() => hfUrl('hf:nope')).toThrow(/hf:<owner>\/<repo>:<quant>/);
  });
  it('tells URLs from paths, and caches by URL', () => {
    expect(parseModelSpec('https://example.test/a/m.gguf?x=1')).toEqual({ kind: 'url', url: 'https://example.test/a/m.gguf?x=1', fileName: 'm.gguf' });
    expect(parseModelSpec('./m.gguf')).toEqual({ kind: 'file', path: './m.gguf' });
    expect(cachePathFor('/c', 'https://a/m.gguf', 'm.gguf')).toMatch(/^\/c\/[0-9a-f]{16}-m\.gguf$/);
    expect(cachePathFor('/c', 'https://a/m.gguf', 'm.gguf')).not.toBe(cachePathFor('/c', 'https://b/m.gguf', 'm.gguf'));
  });
});

describe('request validation', () => {
  const err = (f: () => unknown) => { try { f(); } catch (e) { return e as ApiError; } throw new Error('no error'); };
  it('accepts the supported options', () => {
    const r = parseChatRequest({ model: 'm', messages: [{ role: 'developer', content: [{ type: 'text', text: 'a' }] }, { role: 'user', content: 'b' }],
      max_completion_tokens: 5, temperature: 0.5, top_p: 0.9, stop: ['x'], seed: 7, stream: true, stream_options: { include_usage: true }, n: 1, user: 'u' });
    expect(r).toMatchObject({ maxTokens: 5, temperature: 0.5, topP: 0.9, stop: ['x'], seed: 7, stream: true, includeUsage: true,
      messages: [{ role: 'system', content: 'a' }, { role: 'user', content: 'b' }] });
    expect(parseCompletionRequest({ prompt: [1, 2, 3], max_tokens: 3 })).toMatchObject({ prompt: [1, 2, 3], maxTokens: 3, temperature: 1 });
  });
  it.each([
    ['n > 1', { n: 2 }, 'n'],
    ['a non-function tool', { tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    ['legacy functions', { functions: [{ name: 'f' }] }, 'functions'],
    ['a schema keyword no grammar enforces', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { type: 'integer', maximum: 3 } } } } }] }, 'tools[0].function.parameters.properties.x.maximum'],
    ['a $ref outside $defs', { response_format: { type: 'json_schema', json_schema: { name: 's', schema: { $ref: 'http://x' } } } }, 'response_format.json_schema.schema.$ref'],
    ['tool_choice without tools', { tool_choice: 'auto' }, 'tool_choice'],
    ['a tool result without a call', { messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'c', content: 'r' }] }, 'messages[1].tool_call_id'],
    ['top_logprobs without logprobs', { top_logprobs: 2 }, 'top_logprobs'],
    ['logprobs with auto tools', { logprobs: true, tools: [{ type: 'function', function: { name: 'f' } }] }, 'logprobs'],
    ['an unknown response_format', { response_format: { type: 'yaml' } }, 'response_format'],
    ['penalties out of range', { presence_penalty: 2.5 }, 'presence_penalty'],
    ['unknown', { frobnicate: 1 }, 'frobnicate'],
    ['images', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0]'],
  ])('rejects %s with 400 naming the parameter', (_name, extra, param) => {
    const e = err(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], ...extra }));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(400);
    expect(e.body().error).toMatchObject({ param, type: 'invalid_request_error' });
  });
  it('rejects bad values', () => {
    expect(err(() => parseChatRequest({ messages: [] })).param).toBe('messages');
    expect(err(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], temperature: 3 })).param).toBe('temperature');
    expect(err(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } })).param).toBe('stream_options');
    expect(err(() => parseCompletionRequest({ prompt: ['a', 'b'] })).param).toBe('prompt');
    expect(err(() => parseCompletionRequest({ prompt: 'a', echo: true })).param).toBe('echo');
    expect(err(() => parseCompletionRequest([])).status).toBe(400);
  });
  it('words each 400 as the parameter path and its reason, with the code of the kind of problem', () => {
    const m = [{ role: 'user', content: 'x' }];
    const f = { type: 'function', function: { name: 'f' } };
    expect(err(() => parseChatRequest({ messages: m, top_p: 2 })).body().error)
      .toEqual({ message: "'top_p' must be a number between 0 and 1", type: 'invalid_request_error', param: 'top_p', code: 'invalid_value' });
    expect(err(() => parseChatRequest({ messages: m, audio: {} })).body().error).toMatchObject({ message: "'audio' is not supported by this server", code: 'unsupported_parameter' });
    expect(err(() => parseChatRequest({ messages: m, stream: 'yes' })).body().error).toMatchObject({ message: "'stream' must be a boolean", code: null });
    expect(err(() => parseChatRequest({ messages: m, tools: [f, f] })).message).toBe("'tools[1].function.name': 'f' is defined twice");
    // An unknown field is named before a bad value of a known one in the same object.
    expect(err(() => parseChatRequest({ messages: m, stream: true, stream_options: { include_usage: 'x', extra: 1 } })).param).toBe('stream_options.extra');
    expect(err(() => parseChatRequest({ messages: m, temperature: 9, extra: 1 })).param).toBe('extra');
  });
  it('normalises what the engine takes', () => {
    const r = parseChatRequest({ messages: [{ role: 'user', content: 'x' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: 'r' }, { type: 'text', text: 's' }] }],
    tools: [{ type: 'function', function: { name: 'f' } }], stop: 'x', seed: -1, presence_penalty: 0.5 });
    expect(r).toMatchObject({ stop: ['x'], seed: 2 ** 32 - 1, penalties: { presence: 0.5, frequency: 0, repeat: 1 }, toolChoice: 'auto', parallelToolCalls: true,
      messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{"a":1}', params: { a: 1 } }] },
        { role: 'tool', content: 'rs', toolCallId: 'c1' }] });
    expect(parseCompletionRequest({ prompt: ['one'] }).prompt).toBe('one');
  });
  it('answers hostile shapes with 400, never a TypeError', () => {
    const hostile: unknown[] = [
      { messages: [{ role: 'user', content: [{ type: { toString: 1 } }] }] },
      { messages: [{ role: 'user', content: [{ type: 'text', text: { toString: 1 } }] }] },
      { messages: [{ role: 'user', content: [Object.create(null)] }] },
      { messages: [{ role: { toString: 1 }, content: 'x' }] },
      { messages: [{ role: 'user', content: 'x' }], stop: [{ toString: 1 }] },
      { messages: [{ role: 'user', content: 'x' }], model: { toString: 1 } },
      JSON.parse('{"messages":[{"role":"user","content":"x"}],"__proto__":{"n":2}}'),
      { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { toString: 1 } } } }] },
      { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', required: [{}] } } }] },
      { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: { toString: 1 } } }] },
      { messages: [{ role: 'user', content: 'x' }], tools: [null] },
      { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: '__proto__' } }] },
      { messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: ['object'] } } } },
      { messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { anyOf: [] } } } },
      { messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}}}') } } },
      { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: { toString: 1 } } }] }] },
      { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: 'x' }] },
      { messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: { toString: 1 }, content: 'x' }] },
    ];
    for (const b of hostile) {
      const e = err(() => parseChatRequest(b));
      expect(e).toBeInstanceOf(ApiError);
      expect(e.status).toBe(400);
    }
    expect(err(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], ['k'.repeat(10_000)]: 1 })).message.length).toBeLessThan(200);
  });
});

describe('API keys', () => {
  it('reads one key per line, without blank lines and # comments', () => {
    expect(parseKeys('# keys\r\n\n  k1  \nk2\n#k3\n')).toEqual(['k1', 'k2']);
  });
  it('checks Bearer keys; an empty or unreadable file is an error', () => {
    const d = mkdtempSync(join(tmpdir(), 'qwen-keys-'));
    try {
      const f = join(d, 'keys');
      writeFileSync(f, 'alpha\nbeta\n');
      const k = new ApiKeys(f);
      expect(k.count).toBe(2);
      expect(k.check('Bearer alpha')).toEqual({ ok: true, tenant: 'default' });
      expect(k.check('bearer beta')).toEqual({ ok: true, tenant: 'default' });
      for (const h of [undefined, '', 'alpha', 'Bearer', 'Bearer alph', 'Bearer alphaa', 'Bearer alpha beta', 'Basic alpha']) expect(k.check(h).ok).toBe(false);
      writeFileSync(join(d, 'empty'), '# none\n\n');
      expect(() => new ApiKeys(join(d, 'empty'))).toThrow(ApiKeyError);
      expect(() => new ApiKeys(join(d, 'missing'))).toThrow(/cannot read it/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('prompt size bound', () => {
  it('counts code points (a surrogate pair once, a lone surrogate once)', () => {
    expect(codePoints('abc')).toBe(3);
    expect(codePoints('a😀b')).toBe(3);
    expect(codePoints('\ud800x')).toBe(2);
    expect(codePoints('x\udc00')).toBe(2);
  });
});

describe('URLs in logs', () => {
  it('drops credentials, query and fragment', () => {
    expect(redactUrl('https://u:p@h.test/a/b.gguf?sig=1#x')).toBe('https://h.test/a/b.gguf');
    expect(redactModelSpec('http://h.test:8080/m.gguf?token=t')).toBe('http://h.test:8080/m.gguf');
    expect(redactModelSpec('hf:o/r:Q4_K_M')).toBe('hf:o/r:Q4_K_M');
    expect(redactModelSpec('/models/m.gguf')).toBe('/models/m.gguf');
  });
});

describe('metrics before the first request', () => {
  it('has every request-duration series at zero, so the first request of each kind is counted by increase()', async () => {
    const { createMetrics, ERROR_TYPES } = await import('../src/metrics.ts');
    const text = await createMetrics({ model: 'm', sloBuckets: [3] }).registry.metrics();
    for (const e of ERROR_TYPES) expect(text).toContain(`gen_ai_server_request_duration_seconds_count{model="m",error_type="${e}"} 0`);
    expect(text).toContain('gen_ai_server_time_to_first_token_seconds_bucket{le="3",model="m"} 0');
    expect(text).toContain('gen_ai_server_time_per_output_token_seconds_count{model="m"} 0');
  });
});

describe('reasoning_content', () => {
  const streamed = (pieces: string[], opts = {}) => {
    let reasoning = '';
    let content = '';
    const s = new ReasoningSplitter({ reasoning: (t) => { reasoning += t; }, content: (t) => { content += t; } }, opts);
    for (const p of pieces) s.push(p);
    s.end();
    return { reasoning, content };
  };
  it('moves a <think> segment out of the content, streamed piece by piece as whole', () => {
    const text = '<think>\nThe user wants a colour.\nBlue is fine.\n</think>\n\nBlue.';
    expect(splitReasoning(text)).toEqual({ reasoning: 'The user wants a colour.\nBlue is fine.', content: 'Blue.' });
    // Every split into pieces, down to single characters, gives the same result.
    for (const size of [1, 2, 3, 5, 8]) {
      const pieces = [];
      for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
      expect(streamed(pieces)).toEqual({ reasoning: 'The user wants a colour.\nBlue is fine.', content: 'Blue.' });
    }
  });
  it('leaves text without a thought alone, and handles a thought the prompt opened or that never closes', () => {
    expect(splitReasoning(' Hello <think> there')).toEqual({ reasoning: undefined, content: ' Hello <think> there' });
    expect(streamed([' <', 'b>x'])).toEqual({ reasoning: '', content: ' <b>x' });
    expect(splitReasoning('plan</think>answer', { inThought: true })).toEqual({ reasoning: 'plan', content: 'answer' });
    expect(splitReasoning('<think>cut off by max_tokens')).toEqual({ reasoning: 'cut off by max_tokens', content: '' });
  });
});

describe('decode batch order', () => {
  const item = (n: number): BatchItem => ({ tokens: Array.from({ length: n }, (_, i) => i) as Token[], logits: [], evaluationPriority: 5 as const });
  it('lists one-token decodes in increasing sequence id, whatever their queue order', () => {
    const items = [item(1), item(1), item(1), item(1)];
    const ids = new Map(items.map((it, i) => [it, [2, 0, 3, 1][i]!]));
    const out = fairShareInSequenceOrder(items, 512, (it) => ids.get(it));
    expect(out.map((p) => ids.get(p.item))).toEqual([0, 1, 2, 3]);
    expect(out.map((p) => p.processAmount)).toEqual([1, 1, 1, 1]);
  });
  it('shares a full batch fairly: a short decode is not starved by long prompts, and no slot is lost', () => {
    const items = [item(100), item(3), item(100)];
    const ids = new Map(items.map((it, i) => [it, i]));
    const out = fairShareInSequenceOrder(items, 50, (it) => ids.get(it));
    const amounts = out.map((p) => p.processAmount);
    expect(amounts.reduce((a, b) => a + b, 0)).toBe(50);
    expect(amounts[1]).toBe(3);
    expect(Math.min(amounts[0]!, amounts[2]!)).toBeGreaterThanOrEqual(23);
  });
  it('counts the micro-batches a sequence adds beside the busy ones', () => {
    expect(microBatchesAdded(0, new Set())).toBe(1);
    expect(microBatchesAdded(2, new Set([3]))).toBe(0);
    expect(microBatchesAdded(0, new Set([3]))).toBe(1);
    expect(microBatchesAdded(1, new Set([0, 2]))).toBe(-1);
    expect(microBatchesAdded(3, new Set([2]))).toBe(0);
  });
  it('keeps the queue order when a sequence is unknown, and leaves out what gets no slot', () => {
    const items = [item(2), item(5), item(1)];
    const ids = new Map<BatchItem, number>([[items[0]!, 3], [items[2]!, 0]]);
    const out = fairShareInSequenceOrder(items, 2, (it) => ids.get(it));
    expect(out.map((p) => p.item)).toEqual([items[0], items[1]]);
    expect(out.map((p) => p.processAmount)).toEqual([1, 1]);
  });
  // Fakes of a LlamaContext and a sequence: the pinned node-llama-cpp has the shape read here
  // (lockstep.test.ts checks the order on the real one), so only a fake can show a changed one.
  it('orders by sequence only once the context\'s internals have the expected shape; else keeps the queue order', () => {
    const items = [item(1), item(1), item(1)];
    const queue = items.map((it, i) => ({ tokens: it.tokens, sequenceId: [2, 0, 1][i] }));
    const run = (order: SequenceOrder) => order.strategy({ items, size: 512 }).map((p) => items.indexOf(p.item));
    const expected = new SequenceOrder();
    expect(expected.enable({ _queuedDecodes: queue } as never, { _sequenceId: 0 } as never)).toBeUndefined();
    expect(run(expected)).toEqual([1, 2, 0]);
    const renamed = new SequenceOrder();
    expect(renamed.enable({ _decodeQueue: queue } as never, { _sequenceId: 0 } as never)).toMatch(/_queuedDecodes is not an array/);
    expect(run(renamed)).toEqual([0, 1, 2]);
    const retyped = new SequenceOrder();
    expect(retyped.enable({ _queuedDecodes: queue } as never, { _sequenceId: '0' } as never)).toMatch(/_sequenceId is not a number/);
    expect(run(retyped)).toEqual([0, 1, 2]);
  });
});
