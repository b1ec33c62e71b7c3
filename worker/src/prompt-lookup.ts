// Prompt-lookup decoding ([P3]): speculative decoding whose draft is copied from the prompt
// (node-llama-cpp's InputLookupTokenPredictor, no draft model). When the last generated tokens
// also occur in the prompt, the tokens that followed them there are proposed as the next ones;
// node-llama-cpp's evaluate loop decodes the draft in the same batch as the current token, keeps
// the drafted tokens the model would have chosen itself and drops the rest. Greedy output stays
// the model's own (each kept token is the model's own pick). Extraction, quoting, code edits and
// reformatting copy long runs from their input, and a batch of n tokens costs far less than n
// one-token decodes.
//
// One predictor per context sequence (node-llama-cpp fixes it when the sequence is created); the
// generation loop (generation.ts) turns it on or off per request with `begin`. It drafts only
// while `mayDraft()` says so — by default while its request is the only one running: under
// lockstep batching (lockstep.ts) a batch carries one token of every generating sequence, and
// llama.cpp cuts a batch whose sequences bring different token counts into one micro-batch per
// extra token (split_equal), so a draft on one sequence makes every other wait for it.
//
// One token per draft: node-llama-cpp 3.21.1's speculative loop (LlamaContextSequence's
// _speculativeEvaluate) accepts at most the first drafted token of a batch — it compares each later
// one with the last entry of a `validatedTokens` list it never fills, so they are all refuted
// (measured: drafts of 4 on an exact copy gave 1 accepted, 3 refuted, every step). A draft of one
// makes each step a 2-token batch that yields 2 tokens when the draft holds: at most 2x fewer
// decode steps, where llama-server's ngram drafts (up to 48 tokens) give more; see docs/worker.md.
//
// Drafts that keep failing cost a wider batch and a sampling of the vocabulary for nothing: after
// a draft with nothing accepted the predictor sits out a growing number of tokens (1, 2, 4, ... up
// to MAX_PAUSE_TOKENS), reset by the next accepted one.
import { InputLookupTokenPredictor, TokenPredictor } from 'node-llama-cpp';
import type { LlamaContextSequence, Token } from 'node-llama-cpp';

/** `--prompt-lookup`: always draft, never (no predictor at all), or only while one request runs. */
export type PromptLookupMode = 'on' | 'off' | 'auto';

/** Tokens of the generated tail that must occur in the prompt before it drafts what followed them there. */
export const MIN_MATCH_TOKENS = 3;
/** Tokens per draft (see above: node-llama-cpp accepts no more than the first). */
export const DRAFT_TOKENS = 1;
/** The longest pause (in generated tokens) after drafts with nothing accepted. */
export const MAX_PAUSE_TOKENS = 64;

/** Drafted and accepted tokens of one generation. */
export type DraftCounts = { drafted: number; accepted: number };

export class PromptLookup extends TokenPredictor {
  private readonly inner = new InputLookupTokenPredictor({
    patternLength: { min: MIN_MATCH_TOKENS },
    predictionLength: { min: 1, max: DRAFT_TOKENS },
  });
  private readonly mayDraft: () => boolean;
  private sequence: LlamaContextSequence | undefined;
  private active = false;
  /** Tokens to sit out before the next draft, and the pause after the next failed one. */
  private pauseLeft = 0;
  private nextPause = 1;
  /** The draft evaluated last and not yet accounted for (its size), and the sequence's counters then. */
  private pending = 0;
  private seen = { validated: 0, refuted: 0 };
  private counts: DraftCounts = { drafted: 0, accepted: 0 };

  constructor(mayDraft: () => boolean = () => true) {
    super();
    this.mayDraft = mayDraft;
  }

  /**
   * Starts a generation: drafts from `prompt` when `enabled` (and mayDraft allows), none otherwise.
   * Called before the sequence's evaluate; node-llama-cpp then resets the predictor with the state.
   */
  begin(prompt: readonly Token[], enabled: boolean): void {
    this.active = enabled;
    this.inner.updateInputTokens(enabled ? prompt.slice() : []);
    this.pauseLeft = 0;
    this.nextPause = 1;
    this.pending = 0;
    this.counts = { drafted: 0, accepted: 0 };
  }

  /** Ends the generation: what it drafted and what the model accepted of it. */
  end(): DraftCounts {
    this.account();
    this.active = false;
    this.inner.updateInputTokens([]);
    return this.counts;
  }

  reset(params: { targetSequence: LlamaContextSequence; stateTokens: Token[] }): void {
    this.sequence = params.targetSequence;
    this.inner.reset({ stateTokens: params.stateTokens });
    this.seen = { ...params.targetSequence.tokenPredictions };
  }

  pushTokens(tokens: Token[]): void {
    this.inner.pushTokens(tokens);
    if (this.pauseLeft > 0) this.pauseLeft = Math.max(0, this.pauseLeft - tokens.length);
  }

  predictTokens(): Token[] {
    this.account();
    if (!this.active || this.pauseLeft > 0 || !this.mayDraft()) return [];
    const draft = this.inner.predictTokens().slice(0, DRAFT_TOKENS);
    this.pending = draft.length;
    return draft;
  }

  /** Counts the outcome of the last draft (node-llama-cpp's validated/refuted counters); pauses after a failed one. */
  private account(): void {
    const seq = this.sequence;
    if (this.pending === 0 || !seq) return;
    const now = seq.tokenPredictions;
    const accepted = now.validated - this.seen.validated;
    const refuted = now.refuted - this.seen.refuted;
    this.seen = { validated: now.validated, refuted: now.refuted };
    // Nothing decoded yet (the generation stopped before the draft went in): not a draft.
    if (accepted + refuted === 0) return;
    this.counts.drafted += accepted + refuted;
    this.counts.accepted += accepted;
    if (accepted > 0) this.nextPause = 1;
    else {
      this.pauseLeft = this.nextPause;
      this.nextPause = Math.min(MAX_PAUSE_TOKENS, this.nextPause * 2);
    }
    this.pending = 0;
  }

  override updateInputTokens(): void {
    // The generation loop sets the prompt itself (begin); node-llama-cpp's chat classes, which
    // would call this, are not used with a predictor here.
  }

  override dispose(): void {
    this.inner.dispose();
  }
}
