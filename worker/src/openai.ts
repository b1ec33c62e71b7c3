// OpenAI requests as the engine takes them, for /v1/chat/completions and /v1/completions: a body
// is checked against request-schema.ts (which declares what is accepted and why not) and then
// normalised (defaults, developer -> system, JSON schemas -> grammar schemas). Also `usage`.
import type { z } from 'zod';
import { ApiError, clip } from './api-error.ts';
import type { ChatMessage, ToolCall } from './engine.ts';
import { chatRequestSchema, completionRequestSchema, UNSUPPORTED } from './request-schema.ts';
import type { ChatRequestBody, CompletionRequestBody } from './request-schema.ts';
import { GrammarBudget, toGrammarSchema } from './schema.ts';
import type { GbnfSchema } from './schema.ts';

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

/** `messages[0].content[1]` from zod's path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

/** The 400 for the first problem zod found, in the words request-schema.ts declares for it. */
function toApiError(issues: readonly z.core.$ZodIssue[]): ApiError {
  // An unknown field is reported before anything wrong with the known ones of its object (and so
  // an unknown parameter before anything else).
  const first = issues[0]!;
  const encloses = (i: z.core.$ZodIssue) => i.code === 'unrecognized_keys' && i.path.every((p, n) => first.path[n] === p);
  const issue = issues.filter(encloses).sort((a, b) => a.path.length - b.path.length)[0] ?? first;
  let param = formatPath(issue.path);
  let code: string | null = null;
  if (issue.code === 'unrecognized_keys') {
    param = formatPath([...issue.path, clip(issue.keys[0]!)]);
    code = UNSUPPORTED;
  } else if (issue.code === 'custom') {
    code = (issue.params?.code as string | undefined) ?? null;
  }
  if (param === '') return new ApiError(400, issue.message, { code });
  // A reason starting with ':' is about the parameter, not a property of it ("'tools[1].function.name': 'f' is defined twice").
  return new ApiError(400, `'${param}'${issue.message.startsWith(':') ? '' : ' '}${issue.message}`, { param, code });
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw toApiError(r.error.issues);
  return r.data;
}

function toSampling(b: ChatRequestBody | CompletionRequestBody, maxTokens: number | null | undefined, logprobs: number | undefined): SamplingRequest {
  const presence = b.presence_penalty ?? 0;
  const frequency = b.frequency_penalty ?? 0;
  const repeat = b.repeat_penalty ?? 1;
  return {
    model: b.model,
    maxTokens: maxTokens ?? undefined,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? undefined,
    // llama.cpp seeds are uint32.
    seed: b.seed === undefined || b.seed === null ? undefined : ((b.seed % 2 ** 32) + 2 ** 32) % 2 ** 32,
    stop: b.stop === undefined || b.stop === null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop,
    stream: b.stream ?? false,
    includeUsage: b.stream_options?.include_usage === true,
    penalties: presence === 0 && frequency === 0 && repeat === 1 ? undefined : { presence, frequency, repeat },
    logprobs,
  };
}

function toToolDef(t: NonNullable<ChatRequestBody['tools']>[number], i: number, budget: GrammarBudget): ToolDef {
  const at = `tools[${i}].function.parameters`;
  const f = t.function;
  // Its entry in a forced call's choice among the tools: {"name": const, "arguments": ...}.
  budget.charge(3 * GrammarBudget.NODE_RULES, `tools[${i}]`);
  const parameters = f.parameters === undefined || f.parameters === null ? undefined : toGrammarSchema(f.parameters, at, budget);
  if (parameters && parameters.type !== 'object') throw new ApiError(400, `'${at}' must describe an object ('type': 'object')`, { param: at });
  return { name: f.name, description: f.description ?? undefined, parameters };
}

function toResponseFormat(r: ChatRequestBody['response_format'], budget: GrammarBudget): ResponseFormat {
  if (!r || r.type === 'text') return { type: 'text' };
  if (r.type === 'json_object') return { type: 'json_object' };
  const js = r.json_schema;
  const schema = js.schema === undefined || js.schema === null ? true : js.schema;
  return { type: 'json_schema', name: js.name, schema: toGrammarSchema(schema, 'response_format.json_schema.schema', budget) };
}

function toChatMessage(m: ChatRequestBody['messages'][number]): ChatMessage {
  if (m.role === 'tool') return { role: 'tool', content: m.content, toolCallId: m.tool_call_id };
  if (m.role !== 'assistant') return { role: m.role === 'developer' ? 'system' : m.role, content: m.content };
  const content = m.content ?? '';
  if (m.tool_calls === undefined || m.tool_calls === null) return { role: 'assistant', content };
  const toolCalls = m.tool_calls.map(({ id, function: { name, arguments: args } }): ToolCall => ({ id, name, arguments: args.text, params: args.params }));
  return { role: 'assistant', content, toolCalls };
}

function toToolChoice(c: ChatRequestBody['tool_choice'], tools: ToolDef[]): ToolChoice {
  if (c === undefined || c === null) return tools.length > 0 ? 'auto' : 'none';
  return typeof c === 'string' ? c : { name: c.function.name };
}

export function parseChatRequest(body: unknown): ChatRequest {
  const b = parseBody(chatRequestSchema, body);
  // Every grammar the request may compile counts against one bound.
  const budget = new GrammarBudget();
  const tools = (b.tools ?? []).map((t, i) => toToolDef(t, i, budget));
  return {
    ...toSampling(b, b.max_completion_tokens ?? b.max_tokens, b.logprobs === true ? (b.top_logprobs ?? 0) : undefined),
    kind: 'chat',
    messages: b.messages.map(toChatMessage),
    tools,
    toolChoice: toToolChoice(b.tool_choice, tools),
    parallelToolCalls: b.parallel_tool_calls !== false,
    responseFormat: toResponseFormat(b.response_format, budget),
  };
}

export function parseCompletionRequest(body: unknown): CompletionRequest {
  const b = parseBody(completionRequestSchema, body);
  const p = b.prompt;
  const prompt = typeof p === 'string' ? p : p.every((t) => typeof t === 'number') ? p as number[] : p[0] as string;
  return { ...toSampling(b, b.max_tokens, b.logprobs ?? undefined), kind: 'completion', prompt };
}

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number } };
export const usage = (prompt: number, completion: number, cached = 0): Usage =>
  ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } });
