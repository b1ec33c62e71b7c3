// The generation loops of one request on an acquired sequence: plain generation on
// LlamaContextSequence.evaluate (in lockstep with the other plain generations), and a chat turn
// with tools on node-llama-cpp's LlamaChat.
import { LlamaChat, LlamaGrammarEvaluationState } from 'node-llama-cpp';
import type { ChatWrapper, LlamaContextSequence, LlamaGrammar, LlamaModel, Token } from 'node-llama-cpp';
import { toFunctions, toHistory } from './chat-history.ts';
import type { ChatMessage } from './chat-history.ts';
import type { DecodeLockstep } from './lockstep.ts';
import type { Penalties, ToolDef } from './openai.ts';
import { PromptLookup } from './prompt-lookup.ts';
import type { DraftCounts } from './prompt-lookup.ts';
import { AbortedError } from './sequence-pool.ts';
import { StopMatcher } from './stop-matcher.ts';
import { commonPrefix } from './token-prefix.ts';

/** A tool call the model made. */
export type GeneratedToolCall = { name: string; arguments: string };

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
  /** Prompt-lookup drafts (prompt-lookup.ts): tokens drafted and accepted, when the sequence has the predictor. */
  speculative?: DraftCounts;
  /** performance.now() of the first generated token, undefined when none was generated. */
  firstTokenAt: number | undefined;
  lastTokenAt: number | undefined;
};

/**
 * Keeps the sequence's state for the longest common prefix with `tokens` (at least one token is
 * left to evaluate: the next token needs its logits) and erases the rest; returns the number of
 * tokens kept.
 */
async function reusePrefix(seq: LlamaContextSequence, tokens: Token[], reuse = true): Promise<number> {
  if (!reuse) { await seq.clearHistory(); return 0; }
  const keep = Math.max(0, Math.min(commonPrefix(seq.contextTokens, tokens), tokens.length - 1));
  if (keep === 0) await seq.clearHistory();
  else if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
  // The library re-evaluates from scratch when a kept prefix cannot be reused: count what is kept.
  return Math.min(keep, seq.nextTokenIndex);
}

/**
 * Runs one generation on an acquired sequence. The state of the prompt's longest common prefix
 * with the sequence's previous tokens is kept; only the rest of the prompt is evaluated.
 */
export async function generate(model: LlamaModel, lockstep: DecodeLockstep, seq: LlamaContextSequence, p: GenerateParams): Promise<GenerateResult> {
  const ctxSize = seq.contextSize;
  const room = ctxSize - p.tokens.length;
  const maxTokens = Math.max(0, Math.min(p.maxTokens ?? room, room));
  const cachedTokens = await reusePrefix(seq, p.tokens, p.reusePrefix);
  const lookup = seq.tokenPredictor instanceof PromptLookup ? seq.tokenPredictor : undefined;
  let speculative: DraftCounts | undefined;
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
    // Drafts from the prompt where the output stays what plain decoding gives: not with penalties
    // (node-llama-cpp would penalize a drafted position without the drafted tokens before it) nor
    // seeded sampling (a seed promises the same draws, and drafts change how many are taken).
    lookup?.begin(p.tokens, !pen && p.reusePrefix !== false);
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
        if (!inStep) { inStep = true; lockstep.join(); }
        await lockstep.arrive();
      }
    } finally {
      if (inStep) lockstep.leave();
      // Leaving the loop early returns the generator, which stops evaluation.
      await it.return();
      if (lookup) {
        speculative = lookup.end();
        // Drafted tokens the model accepted but the generation did not reach stay in the KV cache
        // beyond the sequence's tokens (node-llama-cpp keeps them for a next evaluate going on
        // with them); a saved state (prompt-cache.ts) would carry them along: drop them.
        if (speculative.drafted > 0) {
          await seq.eraseContextTokenRanges([{ start: seq.nextTokenIndex, end: seq.contextSize }]);
        }
      }
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
    ...(speculative ? { speculative } : {}),
  };
}

/**
 * A chat turn where the model may call tools (tool_choice auto): node-llama-cpp's LlamaChat
 * renders the functions and parses the model's own call syntax, constraining each call's
 * arguments to the function's JSON schema.
 *
 * It does not take part in the DecodeLockstep (lockstep.ts) that `generate` uses: that works by a
 * loop which awaits `arrive()` between the tokens it pulls from LlamaContextSequence.evaluate, and
 * here there is no such loop of ours. LlamaChat owns token generation: it runs its own evaluate
 * loop, switches to grammars for the function name and its params when the model starts a call, and
 * its callbacks (onToken, onTextChunk) are notifications it does not wait on, so nothing here can
 * hold it between tokens. The cost: a tools request decodes on its own schedule, its tokens not
 * lined up with the lockstep's, so while it runs next to plain generations the decode batches may
 * carry fewer tokens each (more batches per step, as lockstep.ts describes without the lockstep).
 */
export async function chatWithTools(chatWrapper: ChatWrapper, seq: LlamaContextSequence, p: ChatGenerateParams): Promise<GenerateResult> {
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
  const chat = new LlamaChat({ contextSequence: seq, chatWrapper, autoDisposeSequence: false });
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
