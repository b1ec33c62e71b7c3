// OpenAI wire format: request validation (unsupported options are rejected, never ignored) and
// response/chunk shapes for /v1/chat/completions and /v1/completions.
import type { ChatMessage } from './engine.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  constructor(status: number, message: string, opts: { type?: string; param?: string | null; code?: string | null } = {}) {
    super(message);
    this.status = status;
    this.type = opts.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
  }
  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Client input echoed in an error message: at most `max` characters. */
export const clip = (s: string, max = 64) => (s.length > max ? `${s.slice(0, max - 3)}...` : s);

const bad = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, { param, code });
const unsupported = (param: string, why = 'is not supported by this server') => bad(`'${param}' ${why}`, param, 'unsupported_parameter');

export type SamplingRequest = {
  model: string | undefined;
  maxTokens: number | undefined;
  temperature: number;
  topP: number | undefined;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
};

export type ChatRequest = SamplingRequest & { kind: 'chat'; messages: ChatMessage[] };
export type CompletionRequest = SamplingRequest & { kind: 'completion'; prompt: string | number[] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function optNumber(body: Obj, key: string, min: number, max: number, int = false): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min || v > max) {
    throw bad(`'${key}' must be ${int ? 'an integer' : 'a number'} between ${min} and ${max}`, key, 'invalid_value');
  }
  return v;
}

// Accepted and ignored on purpose: metadata that does not change the generation.
const IGNORED = new Set(['user', 'metadata', 'store', 'service_tier']);

function common(body: Obj, known: Set<string>): SamplingRequest {
  for (const key of Object.keys(body)) {
    if (!known.has(key) && !IGNORED.has(key)) throw unsupported(clip(key), 'is not a supported parameter');
  }
  if (body.model !== undefined && typeof body.model !== 'string') throw bad("'model' must be a string", 'model');
  const n = optNumber(body, 'n', 1, 128, true);
  if (n !== undefined && n !== 1) throw unsupported('n', 'must be 1 (one choice per request)');
  for (const k of ['presence_penalty', 'frequency_penalty']) {
    const v = optNumber(body, k, -2, 2);
    if (v !== undefined && v !== 0) throw unsupported(k);
  }
  if (body.logit_bias !== undefined && body.logit_bias !== null && !(isObj(body.logit_bias) && Object.keys(body.logit_bias).length === 0)) throw unsupported('logit_bias');
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false) throw unsupported('logprobs');
  if (body.top_logprobs !== undefined && body.top_logprobs !== null) throw unsupported('top_logprobs');
  if (body.store !== undefined && body.store !== false && body.store !== null) throw unsupported('store', 'must be false');
  const stream = body.stream ?? false;
  if (typeof stream !== 'boolean') throw bad("'stream' must be a boolean", 'stream');
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (!stream) throw bad("'stream_options' is only allowed when 'stream' is true", 'stream_options');
    if (!isObj(body.stream_options)) throw bad("'stream_options' must be an object", 'stream_options');
    for (const k of Object.keys(body.stream_options)) {
      if (k !== 'include_usage') throw unsupported(`stream_options.${clip(k)}`);
    }
    const iu = body.stream_options.include_usage;
    if (iu !== undefined && typeof iu !== 'boolean') throw bad("'stream_options.include_usage' must be a boolean", 'stream_options.include_usage');
    includeUsage = iu === true;
  }
  let stop: string[] = [];
  if (typeof body.stop === 'string') stop = [body.stop];
  else if (Array.isArray(body.stop)) {
    if (body.stop.length > 4 || !body.stop.every((s) => typeof s === 'string')) throw bad("'stop' must be a string or an array of up to 4 strings", 'stop');
    stop = body.stop as string[];
  } else if (body.stop !== undefined && body.stop !== null) throw bad("'stop' must be a string or an array of up to 4 strings", 'stop');
  const maxTokens = optNumber(body, 'max_completion_tokens', 0, 1e9, true) ?? optNumber(body, 'max_tokens', 0, 1e9, true);
  const seed = optNumber(body, 'seed', -(2 ** 53), 2 ** 53, true);
  return {
    model: body.model as string | undefined,
    maxTokens,
    temperature: optNumber(body, 'temperature', 0, 2) ?? 1,
    topP: optNumber(body, 'top_p', 0, 1),
    // llama.cpp seeds are uint32.
    seed: seed === undefined ? undefined : ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32,
    stop,
    stream,
    includeUsage,
  };
}

const SAMPLING_KEYS = ['model', 'n', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'stream', 'stream_options', 'stop', 'max_tokens', 'seed', 'temperature', 'top_p'];
const CHAT_KEYS = new Set([...SAMPLING_KEYS, 'messages', 'max_completion_tokens', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls', 'functions', 'function_call', 'modalities', 'audio', 'prediction', 'reasoning_effort', 'web_search_options']);
const COMPLETION_KEYS = new Set([...SAMPLING_KEYS, 'prompt', 'echo', 'best_of', 'suffix']);

function messageText(m: Obj, i: number): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    return c.map((part, j) => {
      if (!isObj(part)) throw bad(`'messages[${i}].content[${j}]' must be an object`, `messages[${i}].content[${j}]`);
      if (typeof part.type !== 'string') throw bad(`'messages[${i}].content[${j}].type' must be a string`, `messages[${i}].content[${j}].type`);
      if (part.type !== 'text') throw unsupported(`messages[${i}].content[${j}]`, `of type '${clip(part.type)}' is not supported (text only)`);
      if (typeof part.text !== 'string') throw bad(`'messages[${i}].content[${j}].text' must be a string`, `messages[${i}].content[${j}].text`);
      return part.text;
    }).join('');
  }
  if ((c === null || c === undefined) && m.role === 'assistant') return '';
  throw bad(`'messages[${i}].content' must be a string or an array of text parts`, `messages[${i}].content`);
}

export function parseChatRequest(body: unknown): ChatRequest {
  if (!isObj(body)) throw bad('request body must be a JSON object');
  const s = common(body, CHAT_KEYS);
  for (const k of ['tools', 'functions']) {
    if (body[k] !== undefined && body[k] !== null && !(Array.isArray(body[k]) && (body[k] as unknown[]).length === 0)) throw unsupported(k, 'is not supported (no tool calling)');
  }
  for (const k of ['tool_choice', 'function_call']) {
    if (body[k] !== undefined && body[k] !== null && body[k] !== 'none') throw unsupported(k, 'is not supported (no tool calling)');
  }
  for (const k of ['modalities', 'audio', 'prediction', 'reasoning_effort', 'web_search_options']) {
    if (k === 'modalities' && Array.isArray(body[k]) && (body[k] as unknown[]).every((x) => x === 'text')) continue;
    if (body[k] !== undefined && body[k] !== null) throw unsupported(k);
  }
  if (body.response_format !== undefined && body.response_format !== null && !(isObj(body.response_format) && body.response_format.type === 'text')) {
    throw unsupported('response_format', "is not supported (only {type: 'text'})");
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad("'messages' must be a non-empty array", 'messages');
  const messages: ChatMessage[] = body.messages.map((m, i) => {
    if (!isObj(m)) throw bad(`'messages[${i}]' must be an object`, `messages[${i}]`);
    let role = m.role;
    if (role === 'developer') role = 'system';
    if (role !== 'system' && role !== 'user' && role !== 'assistant') {
      if (role === 'tool' || role === 'function') throw unsupported(`messages[${i}].role`, `'${role}' is not supported (no tool calling)`);
      throw bad(`'messages[${i}].role' must be one of system, developer, user, assistant`, `messages[${i}].role`);
    }
    if (m.tool_calls !== undefined && m.tool_calls !== null) throw unsupported(`messages[${i}].tool_calls`, 'is not supported (no tool calling)');
    return { role, content: messageText(m, i) };
  });
  return { ...s, kind: 'chat', messages };
}

export function parseCompletionRequest(body: unknown): CompletionRequest {
  if (!isObj(body)) throw bad('request body must be a JSON object');
  const s = common(body, COMPLETION_KEYS);
  if (body.echo !== undefined && body.echo !== null && body.echo !== false) throw unsupported('echo');
  if (body.suffix !== undefined && body.suffix !== null) throw unsupported('suffix');
  const bestOf = optNumber(body, 'best_of', 1, 20, true);
  if (bestOf !== undefined && bestOf !== 1) throw unsupported('best_of', 'must be 1');
  let prompt: string | number[];
  const p = body.prompt;
  if (typeof p === 'string') prompt = p;
  else if (Array.isArray(p) && p.length > 0 && p.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0)) prompt = p as number[];
  else if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') prompt = p[0];
  else if (Array.isArray(p) && p.length > 1) throw unsupported('prompt', 'must be a single prompt (batches of prompts are not supported)');
  else throw bad("'prompt' must be a string or an array of token ids", 'prompt');
  if (typeof prompt === 'string' && prompt === '') throw bad("'prompt' must not be empty", 'prompt');
  return { ...s, kind: 'completion', prompt };
}

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };
export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });
