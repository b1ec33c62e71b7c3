// OpenAI wire format: request validation (unsupported options are rejected, never ignored) and
// response/chunk shapes for /v1/chat/completions and /v1/completions.
import type { ChatMessage, ToolCall } from './engine.ts';
import { toGrammarSchema } from './schema.ts';
import type { GbnfSchema } from './schema.ts';

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
  penalties: Penalties | undefined;
  /** Log-probabilities asked for: the number of top alternatives per token (0 = only the chosen token's). */
  logprobs: number | undefined;
};

/** OpenAI presence/frequency penalties (on the generated tokens) and llama.cpp's repeat penalty. */
export type Penalties = { presence: number; frequency: number; repeat: number };

export type ToolDef = { name: string; description: string | undefined; parameters: GbnfSchema | undefined };
export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };
export type ResponseFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name: string; schema: GbnfSchema };

export type ChatRequest = SamplingRequest & {
  kind: 'chat';
  messages: ChatMessage[];
  tools: ToolDef[];
  toolChoice: ToolChoice;
  parallelToolCalls: boolean;
  responseFormat: ResponseFormat;
};
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

// Chat: `logprobs: true` and `top_logprobs` 0-20 (OpenAI's bounds).
function chatLogprobs(body: Obj): number | undefined {
  const lp = body.logprobs;
  if (lp !== undefined && lp !== null && typeof lp !== 'boolean') throw bad("'logprobs' must be a boolean", 'logprobs');
  const top = optNumber(body, 'top_logprobs', 0, 20, true);
  if (top !== undefined && lp !== true) throw bad("'top_logprobs' requires 'logprobs' to be true", 'top_logprobs');
  return lp === true ? (top ?? 0) : undefined;
}

// Completions (legacy): `logprobs` is the number of top alternatives, 0-5.
function completionLogprobs(body: Obj): number | undefined {
  if (body.top_logprobs !== undefined && body.top_logprobs !== null) throw unsupported('top_logprobs', "is a chat parameter; use 'logprobs' (0-5)");
  return optNumber(body, 'logprobs', 0, 5, true);
}

function common(body: Obj, known: Set<string>, chat: boolean): SamplingRequest {
  for (const key of Object.keys(body)) {
    if (!known.has(key) && !IGNORED.has(key)) throw unsupported(clip(key), 'is not a supported parameter');
  }
  if (body.model !== undefined && typeof body.model !== 'string') throw bad("'model' must be a string", 'model');
  const n = optNumber(body, 'n', 1, 128, true);
  if (n !== undefined && n !== 1) throw unsupported('n', 'must be 1 (one choice per request)');
  const presence = optNumber(body, 'presence_penalty', -2, 2) ?? 0;
  const frequency = optNumber(body, 'frequency_penalty', -2, 2) ?? 0;
  // llama.cpp's multiplicative repeat penalty (an extension, as in llama-server and vLLM); 1 = off.
  const repeat = optNumber(body, 'repeat_penalty', 0.01, 10) ?? 1;
  if (body.logit_bias !== undefined && body.logit_bias !== null && !(isObj(body.logit_bias) && Object.keys(body.logit_bias).length === 0)) throw unsupported('logit_bias');
  const logprobs = chat ? chatLogprobs(body) : completionLogprobs(body);
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
    penalties: presence === 0 && frequency === 0 && repeat === 1 ? undefined : { presence, frequency, repeat },
    logprobs,
  };
}

const SAMPLING_KEYS = ['model', 'n', 'presence_penalty', 'frequency_penalty', 'repeat_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'stream', 'stream_options', 'stop', 'max_tokens', 'seed', 'temperature', 'top_p'];
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

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;

function parseTools(body: Obj): ToolDef[] {
  const raw = body.tools;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw bad("'tools' must be an array", 'tools');
  if (raw.length > MAX_TOOLS) throw bad(`'tools' may list at most ${MAX_TOOLS} functions`, 'tools');
  const seen = new Set<string>();
  return raw.map((t, i): ToolDef => {
    const at = `tools[${i}]`;
    if (!isObj(t)) throw bad(`'${at}' must be an object`, at);
    if (t.type !== 'function') throw unsupported(`${at}.type`, "must be 'function' (the only tool type supported)");
    const f = t.function;
    if (!isObj(f)) throw bad(`'${at}.function' must be an object`, `${at}.function`);
    for (const k of Object.keys(f)) {
      if (!['name', 'description', 'parameters', 'strict'].includes(k)) throw unsupported(`${at}.function.${clip(k)}`, 'is not a supported field');
    }
    if (typeof f.name !== 'string' || !TOOL_NAME.test(f.name)) throw bad(`'${at}.function.name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -`, `${at}.function.name`);
    if (f.name === '__proto__') throw bad(`'${at}.function.name' '__proto__' is not a supported name`, `${at}.function.name`);
    if (seen.has(f.name)) throw bad(`'${at}.function.name': '${f.name}' is defined twice`, `${at}.function.name`);
    seen.add(f.name);
    if (f.description !== undefined && f.description !== null && typeof f.description !== 'string') throw bad(`'${at}.function.description' must be a string`, `${at}.function.description`);
    if (f.strict !== undefined && f.strict !== null && typeof f.strict !== 'boolean') throw bad(`'${at}.function.strict' must be a boolean`, `${at}.function.strict`);
    let parameters: GbnfSchema | undefined;
    if (f.parameters !== undefined && f.parameters !== null) {
      if (!isObj(f.parameters)) throw bad(`'${at}.function.parameters' must be a JSON schema object`, `${at}.function.parameters`);
      // Arguments are always generated under the grammar of this schema, so `strict` holds either way.
      parameters = toGrammarSchema(f.parameters, `${at}.function.parameters`);
      if (parameters.type !== 'object') throw bad(`'${at}.function.parameters' must describe an object ('type': 'object')`, `${at}.function.parameters`);
    }
    return { name: f.name, description: (f.description as string | undefined) ?? undefined, parameters };
  });
}

function parseToolChoice(body: Obj, tools: ToolDef[]): ToolChoice {
  const c = body.tool_choice;
  if (c === undefined || c === null) return tools.length > 0 ? 'auto' : 'none';
  if (c === 'none') return 'none';
  if (tools.length === 0) throw bad("'tool_choice' is only allowed when 'tools' are specified", 'tool_choice');
  if (c === 'auto' || c === 'required') return c;
  if (isObj(c) && c.type === 'function' && isObj(c.function) && typeof c.function.name === 'string') {
    const name = c.function.name;
    if (!tools.some((t) => t.name === name)) throw bad(`'tool_choice' names the function '${clip(name)}', which is not in 'tools'`, 'tool_choice');
    return { name };
  }
  throw bad("'tool_choice' must be 'none', 'auto', 'required' or {type: 'function', function: {name}}", 'tool_choice');
}

function parseResponseFormat(body: Obj): ResponseFormat {
  const r = body.response_format;
  if (r === undefined || r === null) return { type: 'text' };
  if (!isObj(r)) throw bad("'response_format' must be an object", 'response_format');
  if (r.type === 'text') return { type: 'text' };
  if (r.type === 'json_object') return { type: 'json_object' };
  if (r.type === 'json_schema') {
    const js = r.json_schema;
    if (!isObj(js)) throw bad("'response_format.json_schema' must be an object", 'response_format.json_schema');
    if (typeof js.name !== 'string' || !TOOL_NAME.test(js.name)) throw bad("'response_format.json_schema.name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -", 'response_format.json_schema.name');
    if (js.strict !== undefined && js.strict !== null && typeof js.strict !== 'boolean') throw bad("'response_format.json_schema.strict' must be a boolean", 'response_format.json_schema.strict');
    // The grammar enforces the schema whatever `strict` says: a schema it cannot express is refused.
    const schema = js.schema === undefined || js.schema === null ? true : js.schema;
    return { type: 'json_schema', name: js.name, schema: toGrammarSchema(schema, 'response_format.json_schema.schema') };
  }
  throw unsupported('response_format', "must be of type 'text', 'json_object' or 'json_schema'");
}

function parseToolCalls(m: Obj, i: number): ToolCall[] {
  const at = `messages[${i}].tool_calls`;
  if (!Array.isArray(m.tool_calls)) throw bad(`'${at}' must be an array`, at);
  return m.tool_calls.map((c, j): ToolCall => {
    if (!isObj(c) || c.type !== 'function' || typeof c.id !== 'string' || c.id === '' || !isObj(c.function)) {
      throw bad(`'${at}[${j}]' must be {id, type: 'function', function: {name, arguments}}`, `${at}[${j}]`);
    }
    const { name, arguments: args } = c.function;
    if (typeof name !== 'string' || name === '') throw bad(`'${at}[${j}].function.name' must be a non-empty string`, `${at}[${j}].function.name`);
    if (typeof args !== 'string') throw bad(`'${at}[${j}].function.arguments' must be a string (JSON)`, `${at}[${j}].function.arguments`);
    let params: unknown;
    try { params = args.trim() === '' ? undefined : JSON.parse(args); } catch {
      throw bad(`'${at}[${j}].function.arguments' is not valid JSON`, `${at}[${j}].function.arguments`);
    }
    return { id: c.id, name, arguments: args, params };
  });
}

export function parseChatRequest(body: unknown): ChatRequest {
  if (!isObj(body)) throw bad('request body must be a JSON object');
  const s = common(body, CHAT_KEYS, true);
  // The legacy (pre-tools) function-calling fields.
  for (const k of ['functions', 'function_call']) {
    if (body[k] !== undefined && body[k] !== null) throw unsupported(k, "is not supported: use 'tools' and 'tool_choice'");
  }
  for (const k of ['modalities', 'audio', 'prediction', 'reasoning_effort', 'web_search_options']) {
    if (k === 'modalities' && Array.isArray(body[k]) && (body[k] as unknown[]).every((x) => x === 'text')) continue;
    if (body[k] !== undefined && body[k] !== null) throw unsupported(k);
  }
  const tools = parseTools(body);
  const toolChoice = parseToolChoice(body, tools);
  const ptc = body.parallel_tool_calls;
  if (ptc !== undefined && ptc !== null && typeof ptc !== 'boolean') throw bad("'parallel_tool_calls' must be a boolean", 'parallel_tool_calls');
  const responseFormat = parseResponseFormat(body);
  if (s.logprobs !== undefined && toolChoice === 'auto') {
    // LlamaChat (which parses the model's calls) does not expose token probabilities.
    throw unsupported('logprobs', "is not supported together with 'tools' (tool_choice 'auto')");
  }
  if (responseFormat.type !== 'text' && toolChoice !== 'none') {
    // Both would need their own grammar over the same output.
    throw unsupported('response_format', "cannot be combined with 'tools' unless 'tool_choice' is 'none'");
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw bad("'messages' must be a non-empty array", 'messages');
  const pendingCalls = new Map<string, number>();
  const messages: ChatMessage[] = body.messages.map((m, i): ChatMessage => {
    if (!isObj(m)) throw bad(`'messages[${i}]' must be an object`, `messages[${i}]`);
    let role = m.role;
    if (role === 'developer') role = 'system';
    if (role === 'function') throw unsupported(`messages[${i}].role`, "'function' is not supported: use 'tool'");
    if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'tool') {
      throw bad(`'messages[${i}].role' must be one of system, developer, user, assistant, tool`, `messages[${i}].role`);
    }
    if (role !== 'tool' && pendingCalls.size > 0) {
      const [id, at] = pendingCalls.entries().next().value!;
      throw bad(`'messages[${at}].tool_calls': the tool call '${clip(id)}' has no 'tool' message answering it`, `messages[${at}].tool_calls`);
    }
    if (role === 'tool') {
      if (typeof m.tool_call_id !== 'string') throw bad(`'messages[${i}].tool_call_id' must be a string`, `messages[${i}].tool_call_id`);
      if (!pendingCalls.delete(m.tool_call_id)) {
        throw bad(`'messages[${i}].tool_call_id' '${clip(m.tool_call_id)}' does not answer a tool call of the preceding assistant message`, `messages[${i}].tool_call_id`);
      }
      return { role, content: messageText(m, i), toolCallId: m.tool_call_id };
    }
    if (role === 'assistant' && m.tool_calls !== undefined && m.tool_calls !== null) {
      const toolCalls = parseToolCalls(m, i);
      for (const c of toolCalls) {
        if (pendingCalls.has(c.id)) throw bad(`'messages[${i}].tool_calls': the id '${clip(c.id)}' is used twice`, `messages[${i}].tool_calls`);
        pendingCalls.set(c.id, i);
      }
      return { role, content: messageText(m, i), toolCalls };
    }
    if (m.tool_calls !== undefined && m.tool_calls !== null) throw bad(`'messages[${i}].tool_calls' is only allowed on assistant messages`, `messages[${i}].tool_calls`);
    return { role, content: messageText(m, i) };
  });
  if (pendingCalls.size > 0) {
    const [id, at] = pendingCalls.entries().next().value!;
    throw bad(`'messages[${at}].tool_calls': the tool call '${clip(id)}' has no 'tool' message answering it`, `messages[${at}].tool_calls`);
  }
  return { ...s, kind: 'chat', messages, tools, toolChoice, parallelToolCalls: ptc !== false, responseFormat };
}

export function parseCompletionRequest(body: unknown): CompletionRequest {
  if (!isObj(body)) throw bad('request body must be a JSON object');
  const s = common(body, COMPLETION_KEYS, false);
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

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number } };
export const usage = (prompt: number, completion: number, cached = 0): Usage =>
  ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } });
