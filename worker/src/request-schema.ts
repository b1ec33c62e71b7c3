// The OpenAI request bodies this server accepts, declared once: every parameter it knows, the values
// each may take, and the reason a 400 gives when one does not fit. Unsupported options are
// rejected, never ignored. Each reason follows the parameter's quoted path in the message
// ("'top_p' must be a number between 0 and 1"); openai.ts builds that message and the error body.
import { z } from 'zod';
import { clip } from './api-error.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown) => v === undefined || v === null;

/** The 400's error code for the reasons that carry one (the rest have none). */
export const UNSUPPORTED = 'unsupported_parameter';
const INVALID_VALUE = 'invalid_value';

const invalid = (why: string) => ({ error: why });
const unsupported = (why = 'is not supported by this server') => ({ error: why, params: { code: UNSUPPORTED } });

/** A known option accepted only when absent or when it asks for what this server does anyway. */
const unsupportedUnless = (supported: (v: unknown) => boolean, why?: string) =>
  z.custom((v) => absent(v) || supported(v), unsupported(why)).optional();
/** A known option accepted only when absent. */
const notSupported = (why?: string) => unsupportedUnless(() => false, why);

const numberIn = (min: number, max: number, kind: 'a number' | 'an integer') =>
  z.custom<number>((v) => typeof v === 'number' && Number.isFinite(v) && (kind === 'a number' || Number.isInteger(v)) && v >= min && v <= max,
    { error: `must be ${kind} between ${min} and ${max}`, params: { code: INVALID_VALUE }, abort: true }).nullish();
const numberBetween = (min: number, max: number) => numberIn(min, max, 'a number');
const integerBetween = (min: number, max: number) => numberIn(min, max, 'an integer');

const boolean = () => z.boolean(invalid('must be a boolean'));

/** An object with exactly these fields; any other is refused with `unknownField`. */
const fieldsOnly = <S extends z.core.$ZodLooseShape>(shape: S, unknownField: string, notObject = 'must be an object') =>
  z.strictObject(shape, { error: (iss) => (iss.code === 'unrecognized_keys' ? unknownField : notObject) });

/** A JSON object passed on as it is (a JSON schema: converted by schema.ts, which names its own errors). */
const jsonObject = (why: string) => z.custom<Obj>(isObj, invalid(why));

// Accepted and ignored on purpose: metadata that does not change the generation.
const ignored = { user: z.unknown().optional(), metadata: z.unknown().optional(), service_tier: z.unknown().optional() };

/** As OpenAI allows. */
const MAX_STOPS = 4;
/** Far above any real stop sequence; each one is matched against the text as it is generated. */
export const MAX_STOP_CHARS = 256;

/**
 * The parameters both endpoints share, in the order they are checked, with each endpoint's own
 * `logprobs` and token-limit fields in their place.
 */
const sampling = <L extends z.core.$ZodLooseShape, M extends z.core.$ZodLooseShape>(logprobs: L, maxTokens: M) => ({
  model: z.string(invalid('must be a string')).optional(),
  n: integerBetween(1, 128).refine((n) => absent(n) || n === 1, unsupported('must be 1 (one choice per request)')),
  presence_penalty: numberBetween(-2, 2),
  frequency_penalty: numberBetween(-2, 2),
  // llama.cpp's multiplicative repeat penalty (an extension, as in llama-server and vLLM); 1 = off.
  repeat_penalty: numberBetween(0.01, 10),
  logit_bias: unsupportedUnless((v) => isObj(v) && Object.keys(v).length === 0),
  ...logprobs,
  store: unsupportedUnless((v) => v === false, 'must be false'),
  stream: boolean().nullish(),
  stream_options: fieldsOnly({ include_usage: boolean().optional() }, 'is not supported by this server').nullish(),
  stop: z.custom<string | string[]>((v) => typeof v === 'string' || (Array.isArray(v) && v.length <= MAX_STOPS && v.every((s) => typeof s === 'string')),
    { ...invalid(`must be a string or an array of up to ${MAX_STOPS} strings`), abort: true })
    .refine((v) => (typeof v === 'string' ? [v] : v).every((s) => s.length <= MAX_STOP_CHARS),
      { error: `strings may be at most ${MAX_STOP_CHARS} characters long`, params: { code: INVALID_VALUE } })
    .nullish(),
  ...maxTokens,
  seed: integerBetween(-(2 ** 53), 2 ** 53),
  temperature: numberBetween(0, 2),
  top_p: numberBetween(0, 1),
  ...ignored,
});
const maxTokens = integerBetween(0, 1e9);

type StreamChoice = { stream?: boolean | null | undefined; stream_options?: unknown };
function streamOptionsNeedStream(b: StreamChoice, ctx: z.core.$RefinementCtx) {
  if (!absent(b.stream_options) && b.stream !== true) {
    ctx.addIssue({ code: 'custom', path: ['stream_options'], message: "is only allowed when 'stream' is true", input: b.stream_options });
  }
}

/** Cross-field rules run on a body whose every field is valid. */
const whenFieldsValid = { when: (payload: z.core.ParsePayload) => payload.issues.length === 0 };

/** The top level: an unknown parameter is refused, and a body that is not an object too. */
const requestBody = <S extends z.core.$ZodLooseShape>(shape: S) => fieldsOnly(shape, 'is not a supported parameter', 'request body must be a JSON object');

// ---- /v1/chat/completions

const toolNameRule = invalid('must be 1-64 characters of a-z, A-Z, 0-9, _ and -');
const toolName = z.string(toolNameRule).regex(/^[a-zA-Z0-9_-]{1,64}$/, toolNameRule);
const MAX_TOOLS = 128;

const tool = z.object({
  type: z.custom<'function'>((t) => t === 'function', unsupported("must be 'function' (the only tool type supported)")),
  function: fieldsOnly({
    name: toolName.refine((n) => n !== '__proto__', invalid("'__proto__' is not a supported name")),
    description: z.string(invalid('must be a string')).nullish(),
    // Arguments are always generated under the grammar of `parameters`, so `strict` holds either way.
    strict: boolean().nullish(),
    parameters: jsonObject('must be a JSON schema object').nullish(),
  }, 'is not a supported field'),
}, invalid('must be an object'));

const tools = z.array(tool, invalid('must be an array'))
  .max(MAX_TOOLS, invalid(`may list at most ${MAX_TOOLS} functions`))
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const [i, t] of list.entries()) {
      const name = t.function.name;
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'function', 'name'], message: `: '${name}' is defined twice`, input: name });
      seen.add(name);
    }
  }, whenFieldsValid);

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
], invalid("must be 'none', 'auto', 'required' or {type: 'function', function: {name}}"));

const responseFormat = z.looseObject({ type: z.unknown().optional() }, invalid('must be an object'))
  .refine((r) => r.type === 'text' || r.type === 'json_object' || r.type === 'json_schema',
    { ...unsupported("must be of type 'text', 'json_object' or 'json_schema'"), abort: true })
  .pipe(z.discriminatedUnion('type', [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      json_schema: z.object({
        name: toolName,
        // The grammar enforces the schema whatever `strict` says: a schema it cannot express is refused.
        strict: boolean().nullish(),
        schema: z.unknown().optional(),
      }, invalid('must be an object')),
    }),
  ]));

const textPart = z.object({ type: z.string(invalid('must be a string')), text: z.unknown().optional() }, invalid('must be an object'))
  .refine((p) => p.type === 'text',
    { error: (iss) => `of type '${clip(String((iss.input as { type: string }).type))}' is not supported (text only)`, params: { code: UNSUPPORTED }, abort: true })
  .pipe(z.object({ type: z.string(), text: z.string(invalid('must be a string')) }));
const textParts = z.array(textPart);

/**
 * Message content as text: a string, or text parts joined. (Not a z.union: that would report a bad
 * part as "no option matched" at the content instead of naming the part.)
 */
const content = z.custom<string | unknown[]>((c) => typeof c === 'string' || Array.isArray(c), { ...invalid('must be a string or an array of text parts'), abort: true })
  .transform((c, ctx) => {
    if (typeof c === 'string') return c;
    const parts = textParts.safeParse(c);
    if (parts.success) return parts.data.map((p) => p.text).join('');
    for (const issue of parts.error.issues) ctx.addIssue({ ...issue, input: c } as z.core.$ZodRawIssue);
    return z.NEVER;
  });

/** A call's arguments as sent (a JSON text) and parsed (undefined when blank). */
const callArguments = z.string(invalid('must be a string (JSON)')).transform((text, ctx) => {
  try {
    return { text, params: text.trim() === '' ? undefined : JSON.parse(text) as unknown };
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not valid JSON', input: text });
    return z.NEVER;
  }
});

const toolCall = z.custom<Obj>((c) => isObj(c) && c.type === 'function' && typeof c.id === 'string' && c.id !== '' && isObj(c.function),
  { ...invalid("must be {id, type: 'function', function: {name, arguments}}"), abort: true })
  .pipe(z.object({
    id: z.string(),
    function: z.object({
      name: z.string(invalid('must be a non-empty string')).min(1, invalid('must be a non-empty string')),
      arguments: callArguments,
    }),
  }));

const onlyOnAssistant = z.custom((v) => absent(v), invalid('is only allowed on assistant messages')).optional();

const message = z.looseObject({
  role: z.custom((r) => r !== 'function', { ...unsupported("'function' is not supported: use 'tool'"), abort: true })
    .pipe(z.enum(['system', 'developer', 'user', 'assistant', 'tool'], invalid('must be one of system, developer, user, assistant, tool'))),
}, invalid('must be an object'))
  .pipe(z.discriminatedUnion('role', [
    z.object({ role: z.enum(['system', 'developer', 'user']), tool_calls: onlyOnAssistant, content }),
    z.object({ role: z.literal('assistant'), tool_calls: z.array(toolCall, invalid('must be an array')).nullish(), content: content.nullish() }),
    z.object({ role: z.literal('tool'), tool_call_id: z.string(invalid('must be a string')), content }),
  ]));

/** Every tool call an assistant message makes is answered by the `tool` messages right after it. */
function toolCallsAnswered(messages: z.output<typeof message>[], ctx: z.core.$RefinementCtx) {
  const pending = new Map<string, number>();
  const unanswered = () => {
    const [id, at] = pending.entries().next().value!;
    ctx.addIssue({ code: 'custom', path: [at, 'tool_calls'], message: `: the tool call '${clip(id)}' has no 'tool' message answering it`, input: id });
  };
  for (const [i, m] of messages.entries()) {
    if (m.role !== 'tool' && pending.size > 0) return unanswered();
    if (m.role === 'tool') {
      if (!pending.delete(m.tool_call_id)) {
        ctx.addIssue({ code: 'custom', path: [i, 'tool_call_id'], message: `'${clip(m.tool_call_id)}' does not answer a tool call of the preceding assistant message`, input: m.tool_call_id });
        return;
      }
    } else if (m.role === 'assistant') {
      for (const c of m.tool_calls ?? []) {
        if (pending.has(c.id)) {
          ctx.addIssue({ code: 'custom', path: [i, 'tool_calls'], message: `: the id '${clip(c.id)}' is used twice`, input: c.id });
          return;
        }
        pending.set(c.id, i);
      }
    }
  }
  if (pending.size > 0) unanswered();
}

const nonEmptyArray = invalid('must be a non-empty array');

export const chatRequestSchema = requestBody({
  ...sampling({ logprobs: boolean().nullish(), top_logprobs: integerBetween(0, 20) }, { max_completion_tokens: maxTokens, max_tokens: maxTokens }),
  // The legacy (pre-tools) function-calling fields.
  functions: notSupported("is not supported: use 'tools' and 'tool_choice'"),
  function_call: notSupported("is not supported: use 'tools' and 'tool_choice'"),
  modalities: unsupportedUnless((v) => Array.isArray(v) && v.every((x) => x === 'text')),
  audio: notSupported(),
  prediction: notSupported(),
  reasoning_effort: notSupported(),
  web_search_options: notSupported(),
  tools: tools.nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: boolean().nullish(),
  response_format: responseFormat.nullish(),
  messages: z.array(message, nonEmptyArray).min(1, nonEmptyArray).superRefine(toolCallsAnswered, whenFieldsValid),
}).superRefine((b, ctx) => {
  const issue = (path: string, message: string, code: string | null = null) =>
    ctx.addIssue({ code: 'custom', path: [path], message, input: b[path as keyof typeof b], ...(code ? { params: { code } } : {}) });
  if (!absent(b.top_logprobs) && b.logprobs !== true) issue('top_logprobs', "requires 'logprobs' to be true");
  streamOptionsNeedStream(b, ctx);
  const toolCount = b.tools?.length ?? 0;
  const choice = b.tool_choice ?? (toolCount > 0 ? 'auto' : 'none');
  if (choice !== 'none' && toolCount === 0) issue('tool_choice', "is only allowed when 'tools' are specified");
  else if (typeof choice === 'object' && !b.tools!.some((t) => t.function.name === choice.function.name)) {
    issue('tool_choice', `names the function '${clip(choice.function.name)}', which is not in 'tools'`);
  }
  // LlamaChat (which parses the model's calls) does not expose token probabilities.
  if (b.logprobs === true && choice === 'auto') issue('logprobs', "is not supported together with 'tools' (tool_choice 'auto')", UNSUPPORTED);
  // Both would need their own grammar over the same output.
  if (b.response_format && b.response_format.type !== 'text' && choice !== 'none') {
    issue('response_format', "cannot be combined with 'tools' unless 'tool_choice' is 'none'", UNSUPPORTED);
  }
}, whenFieldsValid);

export type ChatRequestBody = z.output<typeof chatRequestSchema>;

// ---- /v1/completions (legacy)

const isTokenId = (t: unknown) => typeof t === 'number' && Number.isInteger(t) && t >= 0;
// A string, an array of token ids, or a one-string array.
const promptShape = { ...invalid('must be a string or an array of token ids'), abort: true };

export const completionRequestSchema = requestBody({
  ...sampling({
    top_logprobs: notSupported("is a chat parameter; use 'logprobs' (0-5)"),
    // Here `logprobs` is the number of top alternatives, 0-5.
    logprobs: integerBetween(0, 5),
  }, { max_tokens: maxTokens }),
  echo: unsupportedUnless((v) => v === false),
  suffix: notSupported(),
  best_of: integerBetween(1, 20).refine((n) => absent(n) || n === 1, unsupported('must be 1')),
  prompt: z.custom<string | unknown[]>((p) => typeof p === 'string' || (Array.isArray(p) && p.length > 0), promptShape)
    .refine((p) => typeof p === 'string' || p.length === 1 || p.every(isTokenId),
      { ...unsupported('must be a single prompt (batches of prompts are not supported)'), abort: true })
    .refine((p) => typeof p === 'string' || typeof p[0] === 'string' || p.every(isTokenId), promptShape)
    .refine((p) => (typeof p === 'string' ? p : p[0]) !== '', invalid('must not be empty')),
}).superRefine(streamOptionsNeedStream, whenFieldsValid);

export type CompletionRequestBody = z.output<typeof completionRequestSchema>;
