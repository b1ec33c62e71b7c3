// The inference engine's facade: one model and context (model-loader.ts), the sequence pool with
// its bounded wait queue (sequence-pool.ts), tokenization, grammars, and the generation loops of
// generation.ts run on an acquired sequence.
import { resolveChatWrapper } from 'node-llama-cpp';
import type { ChatWrapper, Llama, LlamaContext, LlamaContextSequence, LlamaGrammar, LlamaModel, LlamaText, Token } from 'node-llama-cpp';
import { toFunctions, toHistory } from './chat-history.ts';
import type { ChatMessage } from './chat-history.ts';
import type { GpuMode } from './config.ts';
import { chatWithTools, generate } from './generation.ts';
import type { ChatGenerateParams, GenerateParams, GenerateResult } from './generation.ts';
import type { ToolDef } from './openai.ts';
import { GrammarCache } from './grammar-cache.ts';
import { DecodeLockstep } from './lockstep.ts';
import { loadModel } from './model-loader.ts';
import type { HostPromptCache, HostCacheEvents } from './prompt-cache.ts';
import type { PromptLookupMode } from './prompt-lookup.ts';
import type { GbnfSchema } from './schema.ts';
import { SequencePool } from './sequence-pool.ts';
import type { Assignment } from './sequence-pool.ts';
import { TokenizerThreadGone } from './tokenizer-thread.ts';
import type { TokenizerThread } from './tokenizer-thread.ts';

export { AbortedError, OverloadedError } from './sequence-pool.ts';
export type { ChatMessage, ToolCall } from './chat-history.ts';
export type { ChatGenerateParams, GeneratedToolCall, GenerateParams, GenerateResult, TokenLogprob } from './generation.ts';

export type EngineOptions = {
  modelPath: string;
  parallel: number;
  queueSize: number;
  contextSize: number;
  threads: number;
  gpu: GpuMode;
  /** Prompt-lookup decoding (`--prompt-lookup`, prompt-lookup.ts); default off. */
  promptLookup?: PromptLookupMode | undefined;
  /** The host prompt cache (`--prompt-cache-bytes` > 0): saved sequence states in `dir`. */
  promptCache?: { dir: string; maxBytes: number; events: HostCacheEvents; onError: (err: unknown, what: string) => void } | undefined;
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
    // auto: drafts only while one request runs (prompt-lookup.ts says why). The sequences and
    // their predictors come before the pool that counts the running requests.
    const built: { engine?: Engine } = {};
    const mayDraft = options.promptLookup === 'on' ? () => true : () => (built.engine?.running ?? 0) <= 1;
    const m = await loadModel(options, mayDraft);
    const engine = new Engine(m.llama, m.model, m.context, m.sequences, options, m.host);
    built.engine = engine;
    engine.batchOrderMismatch = m.batchOrderMismatch;
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
  /** Share of the context's KV cells (contextSize per sequence) held by running requests, 0 to 1. */
  get kvCacheUsage(): number { return this.pool.busyCells / (this.context.contextSize * this.pool.size); }
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

  /** Takes a free sequence, or waits in the bounded queue; throws OverloadedError past it. */
  acquire(signal: AbortSignal): Promise<LlamaContextSequence> { return this.pool.acquire(signal); }

  release(seq: LlamaContextSequence): void { this.pool.release(seq); }

  /**
   * Runs one generation on an acquired sequence. The state of the prompt's longest common prefix
   * with the sequence's previous tokens is kept; only the rest of the prompt is evaluated.
   */
  generate(seq: LlamaContextSequence, p: GenerateParams): Promise<GenerateResult> {
    return generate(this.model, this.lockstep, seq, p);
  }

  /** A chat turn where the model may call tools (tool_choice auto; generation.ts). */
  chatWithTools(seq: LlamaContextSequence, p: ChatGenerateParams): Promise<GenerateResult> {
    return chatWithTools(this.chatWrapper, seq, p);
  }

  async dispose(): Promise<void> {
    await this.pool.close();
    await this.tokenizerThread?.close();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
