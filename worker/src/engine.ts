// The inference engine: one model, one context with `parallel` sequences, a slot pool with a
// bounded wait queue, and a generation loop on LlamaContextSequence.evaluate (the library's
// lowest-level streaming API: no chat-session bookkeeping on the per-token path).
import { getLlama, LlamaChat, LlamaGrammarEvaluationState, LlamaLogLevel, resolveChatWrapper } from 'node-llama-cpp';
import type {
  ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, ChatModelResponse, ChatWrapper, GbnfJsonSchema, Llama, LlamaContext, LlamaContextSequence,
  LlamaGrammar, LlamaModel, LlamaText, Token,
} from 'node-llama-cpp';
import { SequenceOrder } from './batch-order.ts';
import type { GpuMode } from './config.ts';
import type { Penalties, ToolDef } from './openai.ts';
import { GrammarCache } from './grammar-cache.ts';
import { DecodeLockstep } from './lockstep.ts';
import { HostPromptCache } from './prompt-cache.ts';
import type { HostCacheEvents } from './prompt-cache.ts';
import type { GbnfSchema } from './schema.ts';
import { AbortedError, SequencePool } from './sequence-pool.ts';
import type { Assignment } from './sequence-pool.ts';
import { StopMatcher } from './stop-matcher.ts';
import { commonPrefix } from './token-prefix.ts';
import { TokenizerThreadGone } from './tokenizer-thread.ts';
import type { TokenizerThread } from './tokenizer-thread.ts';

export { AbortedError, OverloadedError } from './sequence-pool.ts';

export type EngineOptions = {
  modelPath: string;
  parallel: number;
  queueSize: number;
  contextSize: number;
  threads: number;
  gpu: GpuMode;
  /** The host prompt cache (`--prompt-cache-bytes` > 0): saved sequence states in `dir`. */
  promptCache?: { dir: string; maxBytes: number; events: HostCacheEvents; onError: (err: unknown, what: string) => void } | undefined;
};

/** A tool call of an assistant message in the history; `params` is `arguments` parsed. */
export type ToolCall = { id: string; name: string; arguments: string; params: unknown };

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; content: string; toolCallId: string };

/** A tool call the model made. */
export type GeneratedToolCall = { name: string; arguments: string };

/** Tool definitions as node-llama-cpp's chat wrappers render them into the prompt. */
export function toFunctions(tools: ToolDef[]): ChatModelFunctions {
  // No prototype: a tool named like an Object method ('toString') is just a name.
  const f = Object.create(null) as Record<string, { description?: string; params?: GbnfJsonSchema }>;
  for (const t of tools) {
    f[t.name] = {
      ...(t.description !== undefined ? { description: t.description } : {}),
      ...(t.parameters !== undefined ? { params: t.parameters as GbnfJsonSchema } : {}),
    };
  }
  return f;
}

/**
 * OpenAI messages as node-llama-cpp chat history. An assistant message's tool calls become
 * function-call items of its model turn, each carrying the result from the `tool` message that
 * answers it, so the chat wrapper renders them in the model's own function-calling format. The
 * last item is an open model turn: a new one, or (after tool results) the turn that made the calls.
 */
export function toHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const calls = new Map<string, ChatModelFunctionCall>();
  let prev: ChatMessage['role'] | undefined;
  for (const m of messages) {
    if (m.role === 'system' || m.role === 'user') {
      history.push({ type: m.role, text: m.content });
    } else if (m.role === 'assistant') {
      const response: ChatModelResponse['response'] = [];
      if (m.content !== '') response.push(m.content);
      (m.toolCalls ?? []).forEach((c, k) => {
        const item: ChatModelFunctionCall = { type: 'functionCall', name: c.name, params: c.params, result: undefined, startsNewChunk: k === 0 };
        calls.set(c.id, item);
        response.push(item);
      });
      const last = history.at(-1);
      // An answer after tool results continues the model turn that made the calls.
      if (prev === 'tool' && last?.type === 'model') last.response.push(...response);
      else history.push({ type: 'model', response });
    } else if (m.role === 'tool') {
      const call = calls.get(m.toolCallId);
      if (call) {
        try { call.result = JSON.parse(m.content); } catch { call.result = m.content; }
      }
    }
    prev = m.role;
  }
  if (prev !== 'tool') history.push({ type: 'model', response: [] });
  return history;
}

export type GenerateParams = {
  tokens: Token[];
  maxTokens: number | undefined;
  temperature: number;
  topP: number | undefined;
  seed: number | undefined;
  stop: string[];
  signal: AbortSignal;
  /** Constrains the output (response_format, forced tool calls). */
  grammar?: LlamaGrammar | undefined;
  penalties?: Penalties | undefined;
  /**
   * Keep the state of a prefix shared with the sequence's previous request (default true). Off for
   * seeded sampling: logits computed over a kept prefix differ from a full evaluation in the last
   * bits (other batch shapes), which greedy decoding absorbs but a seeded draw may not, and a seed
   * promises the same output for the same request.
   */
  reusePrefix?: boolean;
  /** Log-probabilities: the number of top alternatives per token (0 = the chosen token's only). */
  logprobs?: number | undefined;
  /**
   * Called with each piece of text that is final (never part of a stop string), and with the
   * log-probabilities of the tokens generated since the previous piece (when asked for).
   */
  onText?: (text: string, logprobs?: TokenLogprob[]) => void;
};

/** A generated token's log-probability and its top alternatives ([token text, logprob]). */
export type TokenLogprob = { token: string; logprob: number; top: [string, number][] };

export type ChatGenerateParams = Omit<GenerateParams, 'tokens' | 'grammar'> & {
  messages: ChatMessage[];
  tools: ToolDef[];
  parallelToolCalls: boolean;
  /** Prompt tokens (the same rendering LlamaChat evaluates), for usage and prefix matching. */
  tokens: Token[];
  /** A tool call started (index in this response). */
  onToolCallStart?: (index: number, name: string) => void;
  onToolCallArguments?: (index: number, text: string) => void;
  /** Text of a thought segment (as the chat wrapper defines them). */
  onReasoning?: (text: string) => void;
};

export type GenerateResult = {
  text: string;
  promptTokens: number;
  completionTokens: number;
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** Prompt tokens whose state was kept from the sequence's previous request (not evaluated again). */
  cachedTokens: number;
  toolCalls?: GeneratedToolCall[];
  logprobs?: TokenLogprob[];
  /** Thought segments' text (reasoning models), when there was one. */
  reasoning?: string;
  /** performance.now() of the first generated token, undefined when none was generated. */
  firstTokenAt: number | undefined;
  lastTokenAt: number | undefined;
};

/** Code points of a string (surrogate pairs count once). */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

export class Engine {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly chatWrapper: ChatWrapper;
  readonly options: EngineOptions;
  /** The sequences, their wait queue and which one a prompt runs on (sequence-pool.ts). */
  readonly pool: SequencePool;
  private readonly chatStops: string[];
  /** Number of tokens in the vocabulary (token ids must be below it). */
  readonly vocabularySize: number;
  /**
   * Longest vocabulary piece in code points, for BPE and SentencePiece vocabularies (no
   * normalisation that shrinks text): a text of C code points then has at least C / this many
   * tokens, which rejects an oversized prompt without tokenizing it. Undefined for other tokenizers.
   */
  readonly maxPieceChars: number | undefined;
  /** Why decode batches keep the library's order (its internals changed shape); main.ts warns. */
  batchOrderMismatch: string | undefined;
  /** Generation loops in step, so each decode batch carries every generating sequence's token. */
  private readonly lockstep = new DecodeLockstep();
  private jsonAny: Promise<LlamaGrammar> | undefined;
  /** JSON-schema grammars by schema digest. */
  readonly grammars: GrammarCache;
  /** Tokenizes prompts off the event loop (main.ts starts it); undefined: on the main thread. */
  tokenizerThread: TokenizerThread | undefined;
  onTokenizerThreadGone: (e: Error) => void = () => {};

  private constructor(
    llama: Llama, model: LlamaModel, context: LlamaContext, sequences: LlamaContextSequence[], options: EngineOptions, host: HostPromptCache | undefined,
  ) {
    this.llama = llama;
    this.model = model;
    this.context = context;
    this.options = options;
    this.pool = new SequencePool(sequences, { queueSize: options.queueSize, host, onError: options.promptCache?.onError });
    // The schema is checked at run time (schema.ts); its static type is the library's generic maze.
    this.grammars = new GrammarCache((schema) => this.llama.createGrammarForJsonSchema(schema as never));
    this.chatWrapper = resolveChatWrapper(model);
    const vocab: readonly string[] | undefined = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
    this.vocabularySize = Array.isArray(vocab) ? vocab.length : Number.MAX_SAFE_INTEGER;
    const kind: unknown = model.fileInfo.metadata.tokenizer?.ggml?.model;
    let maxPiece = 0;
    if (Array.isArray(vocab) && (kind === 'gpt2' || kind === 'llama')) for (const t of vocab) maxPiece = Math.max(maxPiece, codePoints(t));
    this.maxPieceChars = maxPiece > 0 ? maxPiece : undefined;
    const state = this.chatWrapper.generateContextState({ chatHistory: [{ type: 'user', text: '' }, { type: 'model', response: [] }] });
    // Plain-text stop triggers of the chat template (special tokens end generation as EOG tokens).
    this.chatStops = state.stopGenerationTriggers
      .filter((t) => t.values.length > 0 && t.values.every((v) => typeof v === 'string'))
      .map((t) => t.values.join(''))
      .filter((s) => s.trim() !== '');
  }

  static async load(options: EngineOptions): Promise<Engine> {
    const llama = await getLlama({
      gpu: options.gpu,
      build: 'never',
      maxThreads: options.threads,
      logLevel: LlamaLogLevel.error,
      progressLogs: false,
    });
    const model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpu === false ? 0 : 'auto' });
    // The batching strategy reads the context's queue, and is needed to create the context.
    const order = new SequenceOrder();
    const context = await model.createContext({
      sequences: options.parallel,
      contextSize: options.contextSize,
      threads: options.threads,
      // On CPU too: fewer graph nodes per step than the plain attention (~5% more tokens/s at 4
      // concurrent requests here), as llama-server's default ("auto") also chooses.
      flashAttention: true,
      batching: { itemPrioritizationStrategy: order.strategy },
      // With a sliding-window KV cache a kept prefix could not be reused (its window is gone):
      // keep the whole context's state so prompt-prefix reuse works on such models (Gemma 3) too.
      swaFullCache: true,
      failedCreationRemedy: false,
    });
    const sequences = Array.from({ length: options.parallel }, () => context.getSequence());
    const batchOrderMismatch = order.enable(context, sequences[0]!);
    const pc = options.promptCache;
    const host = pc && pc.maxBytes > 0 ? await HostPromptCache.open(pc.dir, pc.maxBytes, model.fileInsights.swaSize ?? 0, pc.events) : undefined;
    const engine = new Engine(llama, model, context, sequences, options, host);
    engine.batchOrderMismatch = batchOrderMismatch;
    return engine;
  }

  /**
   * A lower bound on the tokens of `texts` (0 when unknown), computed without tokenizing: every
   * token covers at most `maxPieceChars` code points.
   */
  minTokens(texts: string[]): number {
    if (this.maxPieceChars === undefined) return 0;
    let n = 0;
    for (const t of texts) n += codePoints(t);
    return Math.ceil(n / this.maxPieceChars);
  }

  get gpuType(): string | false { return this.llama.gpu; }
  get sequenceContextSize(): number { return this.context.contextSize; }
  get running(): number { return this.pool.running; }
  get waiting(): number { return this.pool.waiting; }
  get idle(): boolean { return this.running === 0 && this.waiting === 0; }
  /** Called whenever running/waiting change (metrics). */
  set onLoad(f: (running: number, waiting: number) => void) { this.pool.onLoad = f; }

  tokenizeCompletion(prompt: string | number[]): Token[] {
    if (Array.isArray(prompt)) return prompt as Token[];
    return this.withBos(this.model.tokenize(prompt, false));
  }

  private withBos(toks: Token[]): Token[] {
    const bos = this.model.tokens.bos;
    return bos != null && this.model.tokens.shouldPrependBosToken && toks[0] !== bos ? [bos, ...toks] : toks;
  }

  /** The prompt of a chat; `tools` are rendered into it the chat wrapper's way. */
  tokenizeChat(messages: ChatMessage[], tools: ToolDef[] = []): { tokens: Token[]; stops: string[] } {
    return { tokens: this.chatText(messages, tools).tokenize(this.model.tokenizer), stops: this.chatStops };
  }

  private chatText(messages: ChatMessage[], tools: ToolDef[]): LlamaText {
    return this.chatWrapper.generateContextState({
      chatHistory: toHistory(messages),
      ...(tools.length > 0 ? { availableFunctions: toFunctions(tools) } : {}),
    }).contextText;
  }

  /** tokenizeCompletion, on the tokenizer thread when there is one. */
  async tokenizeCompletionOffLoop(prompt: string | number[]): Promise<Token[]> {
    if (Array.isArray(prompt) || !this.tokenizerThread) return this.tokenizeCompletion(prompt);
    return this.withBos(await this.offLoop((t) => t.tokenize(prompt), () => this.model.tokenize(prompt, false)));
  }

  /** tokenizeChat, on the tokenizer thread when there is one. */
  async tokenizeChatOffLoop(messages: ChatMessage[], tools: ToolDef[] = []): Promise<{ tokens: Token[]; stops: string[] }> {
    if (!this.tokenizerThread) return this.tokenizeChat(messages, tools);
    const text = this.chatText(messages, tools);
    return { tokens: await this.offLoop((t) => t.tokenizeText(text), () => text.tokenize(this.model.tokenizer)), stops: this.chatStops };
  }

  /** On the thread; here when it is gone (the worker logs that once, main.ts). */
  private async offLoop(there: (t: TokenizerThread) => Promise<Token[]>, here: () => Token[]): Promise<Token[]> {
    try {
      return await there(this.tokenizerThread!);
    } catch (e) {
      if (!(e instanceof TokenizerThreadGone)) throw e;
      this.tokenizerThread = undefined;
      this.onTokenizerThreadGone(e);
      return here();
    }
  }

  /**
   * The markers of a thought segment: the chat wrapper's (when plain text), else `<think>` as Qwen3
   * and DeepSeek-R1 write it; `inThought` when the prompt itself ends by opening one.
   */
  thoughtMarkers(tokens: Token[]): { open: string; close: string; inThought: boolean } {
    const t = this.chatWrapper.settings.segments?.thought;
    const open = typeof t?.prefix === 'string' && t.prefix.trim() !== '' ? t.prefix.trim() : '<think>';
    const close = typeof t?.suffix === 'string' && t.suffix.trim() !== '' ? t.suffix.trim() : '</think>';
    const tail = this.model.detokenize(tokens.slice(-8), true);
    return { open, close, inThought: tail.trimEnd().endsWith(open) };
  }

  /** A JSON-schema grammar, compiled or from the cache (throws on a schema node-llama-cpp cannot compile). */
  async jsonGrammar(schema: GbnfSchema | 'any'): Promise<LlamaGrammar> {
    if (schema === 'any') return (this.jsonAny ??= this.llama.getGrammarFor('json'));
    return this.grammars.get(schema);
  }

  /**
   * Prompt-prefix reuse: the sequence the prompt runs on instead of the acquired one (the free one
   * holding most of it, or one holding a saved state restored from the host cache; sequence-pool.ts).
   */
  assignSequence(seq: LlamaContextSequence, tokens: Token[], reuse = true): Promise<Assignment> {
    return this.pool.assign(seq, tokens, reuse);
  }

  /**
   * Keeps the sequence's state for the longest common prefix with `tokens` (at least one token is
   * left to evaluate: the next token needs its logits) and erases the rest; returns the number of
   * tokens kept.
   */
  private async reusePrefix(seq: LlamaContextSequence, tokens: Token[], reuse = true): Promise<number> {
    if (!reuse) { await seq.clearHistory(); return 0; }
    const keep = Math.max(0, Math.min(commonPrefix(seq.contextTokens, tokens), tokens.length - 1));
    if (keep === 0) await seq.clearHistory();
    else if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
    // The library re-evaluates from scratch when a kept prefix cannot be reused: count what is kept.
    return Math.min(keep, seq.nextTokenIndex);
  }

  /** Takes a free sequence, or waits in the bounded queue; throws OverloadedError past it. */
  acquire(signal: AbortSignal): Promise<LlamaContextSequence> { return this.pool.acquire(signal); }

  release(seq: LlamaContextSequence): void { this.pool.release(seq); }

  /**
   * Runs one generation on an acquired sequence. The state of the prompt's longest common prefix
   * with the sequence's previous tokens is kept; only the rest of the prompt is evaluated.
   */
  async generate(seq: LlamaContextSequence, p: GenerateParams): Promise<GenerateResult> {
    const model = this.model;
    const ctxSize = seq.contextSize;
    const room = ctxSize - p.tokens.length;
    const maxTokens = Math.max(0, Math.min(p.maxTokens ?? room, room));
    const cachedTokens = await this.reusePrefix(seq, p.tokens, p.reusePrefix);
    const stops = new StopMatcher(p.stop);
    const generated: Token[] = [];
    let text = '';
    let sent = 0;
    let pending: Token[] = [];
    let finishReason: 'stop' | 'length' = 'stop';
    let stopped = false;
    let firstTokenAt: number | undefined;
    let lastTokenAt: number | undefined;

    const logprobs: TokenLogprob[] = [];
    let lpSent = 0;
    const emitUpTo = (end: number) => {
      if (end > sent) {
        if (p.logprobs === undefined) p.onText?.(text.slice(sent, end));
        else { p.onText?.(text.slice(sent, end), logprobs.slice(lpSent)); lpSent = logprobs.length; }
        sent = end;
      }
    };
    const tokenText = (t: Token) => model.detokenize([t], false);
    // Appends decoded text; returns true when a stop string ended the generation.
    const push = (piece: string): boolean => {
      text += piece;
      if (stops.empty) { emitUpTo(text.length); return false; }
      const hit = stops.push(piece);
      if (hit >= 0) {
        emitUpTo(hit);
        text = text.slice(0, hit);
        return true;
      }
      // Hold back a tail that could still become a stop string.
      emitUpTo(text.length - stops.held);
      return false;
    };

    if (maxTokens > 0 && !p.signal.aborted) {
      const pen = p.penalties;
      const opts = {
        temperature: p.temperature,
        topP: p.topP,
        seed: p.seed,
        ...(p.grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar: p.grammar }) } : {}),
        // OpenAI semantics: penalties apply to the tokens generated so far, not to the prompt;
        // none at all unless asked for.
        ...(pen ? { repeatPenalty: { punishTokens: () => generated, maxPunishTokens: Math.max(64, maxTokens), penalty: pen.repeat, frequencyPenalty: pen.frequency, presencePenalty: pen.presence } } : {}),
      };
      const input = p.tokens.slice(cachedTokens);
      // Probabilities cost a sort of the vocabulary per token: only when asked for.
      const it: AsyncGenerator<Token | { token: Token; confidence: number; probabilities?: Map<Token, number> }, void, void> = p.logprobs === undefined
        ? seq.evaluate(input, opts)
        : seq.evaluateWithMetadata(input, { confidence: true, probabilities: p.logprobs > 0 }, opts);
      let inStep = false;
      try {
        for await (const out of it) {
          const token = typeof out === 'number' ? out : out.token;
          if (typeof out !== 'number') {
            const top: [string, number][] = [];
            if (out.probabilities) {
              for (const [t, prob] of out.probabilities) {
                if (top.length >= p.logprobs!) break;
                top.push([tokenText(t), Math.log(prob)]);
              }
            }
            logprobs.push({ token: tokenText(token), logprob: Math.log(out.confidence), top });
          }
          const now = performance.now();
          firstTokenAt ??= now;
          lastTokenAt = now;
          generated.push(token);
          pending.push(token);
          const prev = generated.length > pending.length ? generated.slice(Math.max(0, generated.length - pending.length - 4), generated.length - pending.length) : undefined;
          const piece = model.detokenize(pending, false, prev);
          // An incomplete UTF-8 sequence decodes to U+FFFD: wait for the next token (at most 4).
          if (!piece.endsWith('\uFFFD') || pending.length >= 4) {
            pending = [];
            if (push(piece)) { stopped = true; break; }
          }
          if (p.signal.aborted) break;
          if (generated.length >= maxTokens) { finishReason = 'length'; break; }
          if (!inStep) { inStep = true; this.lockstep.join(); }
          await this.lockstep.arrive();
        }
      } finally {
        if (inStep) this.lockstep.leave();
        // Leaving the loop early returns the generator, which stops evaluation.
        await it.return();
      }
    } else if (maxTokens === 0) {
      finishReason = 'length';
    }
    if (p.signal.aborted) throw new AbortedError('aborted');
    if (!stopped) {
      if (pending.length > 0) stopped = push(model.detokenize(pending, false));
      if (!stopped) emitUpTo(text.length);
    }
    return {
      text, promptTokens: p.tokens.length, cachedTokens, completionTokens: generated.length, finishReason, firstTokenAt, lastTokenAt,
      ...(p.logprobs !== undefined ? { logprobs } : {}),
    };
  }

  /**
   * A chat turn where the model may call tools (tool_choice auto): node-llama-cpp's LlamaChat
   * renders the functions and parses the model's own call syntax, constraining each call's
   * arguments to the function's JSON schema.
   */
  async chatWithTools(seq: LlamaContextSequence, p: ChatGenerateParams): Promise<GenerateResult> {
    const room = seq.contextSize - p.tokens.length;
    const maxTokens = Math.max(0, Math.min(p.maxTokens ?? room, room));
    const history = toHistory(p.messages);
    // LlamaChat evaluates only what differs from the sequence's state; count the kept prefix.
    if (p.reusePrefix === false) await seq.clearHistory();
    const cachedTokens = Math.max(0, Math.min(commonPrefix(seq.contextTokens, p.tokens), p.tokens.length - 1));
    const out0 = seq.tokenMeter.usedOutputTokens;
    let firstTokenAt: number | undefined;
    let lastTokenAt: number | undefined;
    const tick = () => { const now = performance.now(); firstTokenAt ??= now; lastTokenAt = now; };
    const chat = new LlamaChat({ contextSequence: seq, chatWrapper: this.chatWrapper, autoDisposeSequence: false });
    const started = new Set<number>();
    const pen = p.penalties;
    let reasoning: string | undefined;
    try {
      if (maxTokens === 0) {
        return { text: '', promptTokens: p.tokens.length, cachedTokens, completionTokens: 0, finishReason: 'length', firstTokenAt, lastTokenAt };
      }
      const r = await chat.generateResponse(history, {
        functions: toFunctions(p.tools),
        documentFunctionParams: true,
        maxParallelFunctionCalls: p.parallelToolCalls ? undefined : 1,
        maxTokens,
        temperature: p.temperature,
        ...(p.topP !== undefined ? { topP: p.topP } : {}),
        ...(p.seed !== undefined ? { seed: p.seed } : {}),
        repeatPenalty: pen ? { penalty: pen.repeat, frequencyPenalty: pen.frequency, presencePenalty: pen.presence, penalizeNewLine: true, lastTokens: Math.max(64, maxTokens) } : false,
        customStopTriggers: p.stop.filter((s) => s !== ''),
        signal: p.signal,
        // The client's text as it is (trimming would make streamed and non-streamed text differ).
        trimWhitespaceSuffix: false,
        onToken: tick,
        onTextChunk: (text) => { if (text !== '') p.onText?.(text); },
        onResponseChunk: (c) => {
          if (c.type === 'segment' && c.segmentType === 'thought' && c.text !== '') {
            reasoning = (reasoning ?? '') + c.text;
            p.onReasoning?.(c.text);
          }
        },
        onFunctionCallParamsChunk: (c) => {
          tick();
          if (!started.has(c.callIndex)) { started.add(c.callIndex); p.onToolCallStart?.(c.callIndex, c.functionName); }
          if (c.paramsChunk !== '') p.onToolCallArguments?.(c.callIndex, c.paramsChunk);
        },
      });
      if (p.signal.aborted) throw new AbortedError('aborted');
      const toolCalls = (r.functionCalls ?? []).map((c): GeneratedToolCall => ({ name: c.functionName, arguments: JSON.stringify(c.params ?? {}) }));
      const reason = r.metadata.stopReason;
      return {
        text: r.response, promptTokens: p.tokens.length, cachedTokens, completionTokens: seq.tokenMeter.usedOutputTokens - out0,
        finishReason: toolCalls.length > 0 ? 'tool_calls' : reason === 'maxTokens' ? 'length' : 'stop',
        toolCalls, firstTokenAt, lastTokenAt, ...(reasoning !== undefined ? { reasoning: reasoning.trim() } : {}),
      };
    } catch (e) {
      if (p.signal.aborted) throw new AbortedError('aborted');
      throw e;
    } finally {
      chat.dispose({ disposeSequence: false });
    }
  }

  async dispose(): Promise<void> {
    await this.pool.close();
    await this.tokenizerThread?.close();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
