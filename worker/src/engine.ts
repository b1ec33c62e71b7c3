// The inference engine: one model, one context with `parallel` sequences, a slot pool with a
// bounded wait queue, and a generation loop on LlamaContextSequence.evaluate (the library's
// lowest-level streaming API: no chat-session bookkeeping on the per-token path).
import { getLlama, LlamaLogLevel, resolveChatWrapper } from 'node-llama-cpp';
import type { ChatHistoryItem, ChatWrapper, Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type { GpuMode } from './config.ts';

export class OverloadedError extends Error {}
export class AbortedError extends Error {}

export type EngineOptions = {
  modelPath: string;
  parallel: number;
  queueSize: number;
  contextSize: number;
  threads: number;
  gpu: GpuMode;
};

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

export type GenerateParams = {
  tokens: Token[];
  maxTokens: number | undefined;
  temperature: number;
  topP: number | undefined;
  seed: number | undefined;
  stop: string[];
  signal: AbortSignal;
  /** Called with each piece of text that is final (never part of a stop string). */
  onText?: (text: string) => void;
};

export type GenerateResult = {
  text: string;
  promptTokens: number;
  completionTokens: number;
  finishReason: 'stop' | 'length';
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

type Waiter = { resolve: (s: LlamaContextSequence) => void; reject: (e: Error) => void; signal: AbortSignal; onAbort: () => void };

export class Engine {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly chatWrapper: ChatWrapper;
  readonly options: EngineOptions;
  private readonly free: LlamaContextSequence[];
  private readonly waiters: Waiter[] = [];
  private readonly chatStops: string[];
  /** Number of tokens in the vocabulary (token ids must be below it). */
  readonly vocabularySize: number;
  /**
   * Longest vocabulary piece in code points, for BPE and SentencePiece vocabularies (no
   * normalisation that shrinks text): a text of C code points then has at least C / this many
   * tokens, which rejects an oversized prompt without tokenizing it. Undefined for other tokenizers.
   */
  readonly maxPieceChars: number | undefined;
  running = 0;
  /** Called whenever running/waiting change (metrics). */
  onLoad: (running: number, waiting: number) => void = () => {};

  private constructor(llama: Llama, model: LlamaModel, context: LlamaContext, options: EngineOptions) {
    this.llama = llama;
    this.model = model;
    this.context = context;
    this.options = options;
    this.free = Array.from({ length: options.parallel }, () => context.getSequence());
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
    const context = await model.createContext({
      sequences: options.parallel,
      contextSize: options.contextSize,
      threads: options.threads,
      flashAttention: options.gpu !== false,
      failedCreationRemedy: false,
    });
    return new Engine(llama, model, context, options);
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
  get waiting(): number { return this.waiters.length; }
  get idle(): boolean { return this.running === 0 && this.waiters.length === 0; }

  tokenizeCompletion(prompt: string | number[]): Token[] {
    if (Array.isArray(prompt)) return prompt as Token[];
    const toks = this.model.tokenize(prompt, false);
    const bos = this.model.tokens.bos;
    return bos != null && this.model.tokens.shouldPrependBosToken && toks[0] !== bos ? [bos, ...toks] : toks;
  }

  tokenizeChat(messages: ChatMessage[]): { tokens: Token[]; stops: string[] } {
    const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem =>
      m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content });
    history.push({ type: 'model', response: [] });
    const state = this.chatWrapper.generateContextState({ chatHistory: history });
    return { tokens: state.contextText.tokenize(this.model.tokenizer), stops: this.chatStops };
  }

  /** Takes a free sequence, or waits in the bounded queue; throws OverloadedError past it. */
  acquire(signal: AbortSignal): Promise<LlamaContextSequence> {
    if (signal.aborted) return Promise.reject(new AbortedError('aborted'));
    const s = this.free.pop();
    if (s) {
      this.running++;
      this.onLoad(this.running, this.waiters.length);
      return Promise.resolve(s);
    }
    if (this.waiters.length >= this.options.queueSize) return Promise.reject(new OverloadedError('all sequences busy and the wait queue is full'));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve, reject, signal,
        onAbort: () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          this.onLoad(this.running, this.waiters.length);
          reject(new AbortedError('aborted while waiting'));
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      this.waiters.push(w);
      this.onLoad(this.running, this.waiters.length);
    });
  }

  release(seq: LlamaContextSequence): void {
    const w = this.waiters.shift();
    if (w) {
      w.signal.removeEventListener('abort', w.onAbort);
      this.onLoad(this.running, this.waiters.length);
      w.resolve(seq);
      return;
    }
    this.running--;
    this.free.push(seq);
    this.onLoad(this.running, this.waiters.length);
  }

  /** Rejects every queued request (drain deadline). */
  rejectWaiters(err: Error): void {
    for (const w of this.waiters.splice(0)) {
      w.signal.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
    this.onLoad(this.running, 0);
  }

  /** Runs one generation on an acquired sequence. The sequence's history is reset first. */
  async generate(seq: LlamaContextSequence, p: GenerateParams): Promise<GenerateResult> {
    const model = this.model;
    const ctxSize = seq.contextSize;
    const room = ctxSize - p.tokens.length;
    const maxTokens = Math.max(0, Math.min(p.maxTokens ?? room, room));
    await seq.clearHistory();
    const stops = p.stop.filter((s) => s !== '');
    const maxStop = stops.reduce((m, s) => Math.max(m, s.length), 0);
    const generated: Token[] = [];
    let text = '';
    let sent = 0;
    let pending: Token[] = [];
    let finishReason: 'stop' | 'length' = 'stop';
    let stopped = false;
    let firstTokenAt: number | undefined;
    let lastTokenAt: number | undefined;

    const emitUpTo = (end: number) => {
      if (end > sent) {
        p.onText?.(text.slice(sent, end));
        sent = end;
      }
    };
    // Appends decoded text; returns true when a stop string ended the generation.
    const push = (piece: string): boolean => {
      text += piece;
      if (maxStop === 0) { emitUpTo(text.length); return false; }
      let hit = -1;
      for (const s of stops) {
        const i = text.indexOf(s, Math.max(0, sent - s.length + 1));
        if (i >= 0 && (hit < 0 || i < hit)) hit = i;
      }
      if (hit >= 0) {
        emitUpTo(hit);
        text = text.slice(0, hit);
        return true;
      }
      // Hold back a tail that could still become a stop string.
      let hold = 0;
      for (const s of stops) {
        for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
          if (text.endsWith(s.slice(0, k))) { hold = k; break; }
        }
      }
      emitUpTo(text.length - hold);
      return false;
    };

    if (maxTokens > 0 && !p.signal.aborted) {
      const it = seq.evaluate(p.tokens, {
        temperature: p.temperature,
        topP: p.topP,
        seed: p.seed,
        // No repeat penalty: OpenAI semantics (presence/frequency penalties are rejected as unsupported).
      });
      try {
        for await (const token of it) {
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
        }
      } finally {
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
    return { text, promptTokens: p.tokens.length, completionTokens: generated.length, finishReason, firstTokenAt, lastTokenAt };
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
