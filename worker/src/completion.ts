// One completion on the engine, from the checked request to the generated result: the prompt's
// admission checks, a sequence from the queue, grammars, tokenization and generation (streamed
// pieces go to the CompletionResponse as they come). Every refusal is the ApiError to answer with.
import type { LlamaContextSequence, LlamaGrammar, Token } from 'node-llama-cpp';
import { ApiError, clip } from './api-error.ts';
import type { CompletionResponse } from './completion-response.ts';
import { OverloadedError } from './engine.ts';
import type { Engine, GeneratedToolCall, GenerateResult, TokenLogprob } from './engine.ts';
import type { ChatRequest, CompletionRequest, ToolDef } from './openai.ts';
import { ReasoningSplitter, splitReasoning } from './reasoning.ts';
import type { GbnfSchema } from './schema.ts';

export type ParsedRequest = ChatRequest | CompletionRequest;

/** The parameter a prompt-size error names. */
const promptParam = (parsed: ParsedRequest) => (parsed.kind === 'chat' ? 'messages' : 'prompt');

/**
 * Refuses a prompt that cannot fit before any tokenization: the tokenizer (its own thread, or the
 * event loop without it) never spends more than about one context's worth of text on a request.
 */
export function checkPromptFits(engine: Engine, parsed: ParsedRequest): void {
  const ctx = engine.sequenceContextSize;
  if (parsed.kind === 'completion' && Array.isArray(parsed.prompt)) {
    const vocab = engine.vocabularySize;
    const badTok = parsed.prompt.find((t) => t >= vocab);
    if (badTok !== undefined) throw new ApiError(400, `token id ${badTok} is out of the vocabulary (size ${vocab})`, { param: 'prompt', code: 'invalid_value' });
  }
  const texts = parsed.kind === 'chat' ? [...parsed.messages.map((m) => m.content.trim()), ...(parsed.toolChoice === 'none' ? [] : parsed.tools.map((t) => JSON.stringify(t)))]
    : typeof parsed.prompt === 'string' ? [parsed.prompt] : [];
  const atLeast = parsed.kind === 'completion' && Array.isArray(parsed.prompt) ? parsed.prompt.length : engine.minTokens(texts);
  if (atLeast >= ctx) {
    throw new ApiError(400, `This model's maximum context length is ${ctx} tokens, but the prompt has at least ${atLeast} tokens (at least 1 must remain for the completion)`,
      { param: promptParam(parsed), code: 'context_length_exceeded' });
  }
}

/** A forced tool call (tool_choice required or named): `wrapped` when the model picks among several. */
export type ForcedCall = { wrapped: boolean; name: string | undefined };
export type Grammars = { grammar: LlamaGrammar | undefined; forced: ForcedCall | undefined };

/**
 * The grammar a forced tool call (tool_choice required or named) is generated under: the named
 * function's arguments, or, with several candidates, {"name": ..., "arguments": ...} for one of them.
 */
function forcedToolSchema(tools: ToolDef[], choice: 'required' | { name: string }): { schema: GbnfSchema; wrapped: boolean } {
  const args = (t: ToolDef): GbnfSchema => t.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
  const candidates = choice === 'required' ? tools : tools.filter((t) => t.name === choice.name);
  if (candidates.length === 1) return { schema: args(candidates[0]!), wrapped: false };
  return {
    schema: { oneOf: candidates.map((t) => ({ type: 'object', properties: { name: { const: t.name }, arguments: args(t) }, required: ['name', 'arguments'], additionalProperties: false })) },
    wrapped: true,
  };
}

/**
 * The request's grammars, compiled once it holds a sequence (a request refused with 429 costs no
 * compilation) and bounded in size when the request was parsed (schema.ts GrammarBudget). Each
 * compilation runs in its own turn of the event loop, and a schema seen before comes from the
 * cache. A schema the library refuses is the client's error (400).
 */
export async function compileGrammars(engine: Engine, parsed: ParsedRequest): Promise<Grammars> {
  let grammar: LlamaGrammar | undefined;
  let forced: ForcedCall | undefined;
  if (parsed.kind !== 'chat') return { grammar, forced };
  const compile = async (schema: GbnfSchema | 'any', param: string) => {
    try { return await engine.jsonGrammar(schema); } catch (e) {
      throw new ApiError(400, `the schema cannot be turned into a grammar: ${clip((e as Error).message, 200)}`, { param, code: 'unsupported_schema' });
    }
  };
  const rf = parsed.responseFormat;
  if (rf.type === 'json_object') grammar = await compile('any', 'response_format');
  else if (rf.type === 'json_schema') grammar = await compile(rf.schema, 'response_format.json_schema.schema');
  const tc = parsed.toolChoice;
  if (tc === 'auto') {
    // LlamaChat compiles these itself: a schema it would refuse must be a 400 here, not a 500 there.
    for (const [i, t] of parsed.tools.entries()) if (t.parameters) await compile(t.parameters, `tools[${i}].function.parameters`);
  }
  if (tc === 'required' || typeof tc === 'object') {
    const f = forcedToolSchema(parsed.tools, tc);
    grammar = await compile(f.schema, 'tools');
    forced = { wrapped: f.wrapped, name: f.wrapped ? undefined : (typeof tc === 'object' ? tc.name : parsed.tools[0]!.name) };
  }
  return { grammar, forced };
}

/** A sequence from the queue; a full queue is a 429. */
export async function acquireSequence(engine: Engine, signal: AbortSignal): Promise<LlamaContextSequence> {
  try {
    return await engine.acquire(signal);
  } catch (e) {
    if (e instanceof OverloadedError) throw new ApiError(429, 'The server is overloaded: all sequences are busy and the wait queue is full; retry later', { type: 'rate_limit_error', code: 'overloaded' });
    throw e;
  }
}

export type Prompt = { tokens: Token[]; stops: string[] };

/** The prompt's tokens, tokenized off the event loop (Engine.tokenizerThread). */
export async function tokenizePrompt(engine: Engine, parsed: ParsedRequest): Promise<Prompt> {
  try {
    if (parsed.kind === 'completion') return { tokens: await engine.tokenizeCompletionOffLoop(parsed.prompt), stops: parsed.stop };
    const t = await engine.tokenizeChatOffLoop(parsed.messages, parsed.toolChoice === 'none' ? [] : parsed.tools);
    return { tokens: t.tokens, stops: [...parsed.stop, ...t.stops] };
  } catch (e) {
    // The input is validated text: what the tokenizer or the chat template refuses is the prompt's doing.
    throw new ApiError(400, `cannot tokenize the prompt: ${clip((e as Error).message)}`, { param: promptParam(parsed), code: 'invalid_prompt' });
  }
}

/** The tokenized prompt leaves room for at least one token, and for max_tokens when given. */
export function checkRoomForCompletion(engine: Engine, parsed: ParsedRequest, promptTokens: number): void {
  const ctx = engine.sequenceContextSize;
  if (promptTokens >= ctx) {
    throw new ApiError(400, `This model's maximum context length is ${ctx} tokens, but the prompt has ${promptTokens} tokens (at least 1 must remain for the completion)`,
      { param: promptParam(parsed), code: 'context_length_exceeded' });
  }
  if (parsed.maxTokens !== undefined && promptTokens + parsed.maxTokens > ctx) {
    // OpenAI rejects this too; say exactly what does not fit.
    throw new ApiError(400, `This model's maximum context length is ${ctx} tokens; the prompt has ${promptTokens} tokens and ${parsed.maxTokens} were requested for the completion`,
      { param: 'max_tokens', code: 'context_length_exceeded' });
  }
}

/**
 * The forced call in a generated text: the arguments themselves, or {"name", "arguments"} when
 * wrapped. Turns `result` into a tool-call answer; undefined when max_tokens cut the call off.
 */
function takeForcedCall(result: GenerateResult, forced: ForcedCall): GeneratedToolCall | undefined {
  let call: GeneratedToolCall | undefined;
  if (!forced.wrapped) call = { name: forced.name!, arguments: result.text };
  else {
    try {
      const j = JSON.parse(result.text) as { name: string; arguments: unknown };
      call = { name: j.name, arguments: JSON.stringify(j.arguments) };
    } catch { /* cut off by max_tokens: no complete call */ }
  }
  if (!call) return undefined;
  result.toolCalls = [call];
  if (!forced.wrapped || result.finishReason === 'stop') result.text = '';
  if (result.finishReason === 'stop') result.finishReason = 'tool_calls';
  return call;
}

/**
 * Whether the request may run on a kept prompt prefix. Not with seeded sampling: logits computed
 * over a kept prefix differ from a full evaluation in the last bits, which a seeded draw may not absorb.
 */
export function reusesPrefix(parsed: ParsedRequest): boolean {
  return !(parsed.seed !== undefined && parsed.temperature > 0);
}

/** Generates the completion on `seq`, streaming its pieces to `out` when the request streams. */
export async function generateCompletion(engine: Engine, seq: LlamaContextSequence, parsed: ParsedRequest, prompt: Prompt, grammars: Grammars,
  signal: AbortSignal, out: CompletionResponse): Promise<GenerateResult> {
  const { tokens } = prompt;
  const { grammar, forced } = grammars;
  const base = { maxTokens: parsed.maxTokens, temperature: parsed.temperature, topP: parsed.topP, seed: parsed.seed, stop: prompt.stops, signal, penalties: parsed.penalties, logprobs: parsed.logprobs,
    reusePrefix: reusesPrefix(parsed) };
  out.start();
  // Plain chat text may carry a reasoning model's thought: it goes to reasoning_content.
  const thoughts = parsed.kind === 'chat' && !forced && !grammar && parsed.toolChoice !== 'auto' ? engine.thoughtMarkers(tokens) : undefined;
  const splitter = parsed.stream && thoughts
    ? new ReasoningSplitter({ reasoning: (t) => out.delta({ reasoning_content: t }), content: (t) => out.delta({ content: t }) }, thoughts) : undefined;
  const onTextOnly = !parsed.stream ? undefined
    : parsed.kind === 'completion' ? (text: string) => out.text(text)
      // A named forced call streams its arguments as OpenAI does; a choice among several is sent whole at the end.
      : forced ? (forced.wrapped ? undefined : (text: string) => out.toolCallArguments(0, text))
        : splitter ? (text: string) => splitter.push(text)
          : (text: string) => out.delta({ content: text });
  const onText = onTextOnly && ((text: string, lps?: TokenLogprob[]) => { if (lps) out.addLogprobs(lps); onTextOnly(text); });
  if (parsed.kind === 'chat' && parsed.toolChoice === 'auto') {
    return engine.chatWithTools(seq, {
      ...base, tokens, messages: parsed.messages, tools: parsed.tools, parallelToolCalls: parsed.parallelToolCalls,
      ...(onText ? { onText } : {}),
      ...(parsed.stream ? {
        onReasoning: (t: string) => out.delta({ reasoning_content: t }),
        onToolCallStart: (index: number, name: string) => out.toolCallStart(index, name),
        onToolCallArguments: (index: number, text: string) => out.toolCallArguments(index, text),
      } : {}),
    });
  }
  if (parsed.stream && forced && !forced.wrapped) out.toolCallStart(0, forced.name!);
  const result = await engine.generate(seq, { ...base, tokens, grammar, ...(onText ? { onText } : {}) });
  splitter?.end();
  if (thoughts) {
    const r = splitReasoning(result.text, thoughts);
    result.text = r.content;
    if (r.reasoning !== undefined) result.reasoning = r.reasoning;
  }
  if (forced) {
    const call = takeForcedCall(result, forced);
    if (call && parsed.stream && forced.wrapped) out.wholeToolCall(call);
    else if (!call && parsed.stream && result.text !== '') out.delta({ content: result.text });
  }
  return result;
}
