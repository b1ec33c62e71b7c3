// The pool of context sequences: a bounded wait queue, and which free sequence a request runs on.
// A sequence keeps its tokens' state after a request, so the choice decides whether a prompt's
// prefix is evaluated again. The rule, in order:
//   1. the free sequence whose kept tokens share the longest useful prefix with the prompt (one
//      that would sit apart from the busy sequences counts CONTIGUITY_TOKENS less, batch-order.ts);
//   2. none does: a sequence whose content costs nothing to lose — empty, short, or saved in the
//      host cache — preferring one beside the busy sequences (one micro-batch per decode step);
//   3. else the least recently used: never a sequence holding another conversation's long prefix
//      while an older one is free.
// With a host cache (prompt-cache.ts), a sequence's state is saved when its request ends, and a
// prompt that a saved state covers better than any live sequence is restored into the sequence of
// rule 2/3 instead of being evaluated. Both happen in `assign`, this file's one entry point for the
// choice; `acquire`/`release` are the queue.
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { CONTIGUITY_TOKENS, microBatchesAdded, sequenceIdOf } from './batch-order.ts';
import type { HostPromptCache } from './prompt-cache.ts';
import { commonPrefix } from './token-prefix.ts';

export class OverloadedError extends Error {}
export class AbortedError extends Error {}

/**
 * A shared prefix shorter than this is not worth keeping a sequence for, nor saving: evaluating 64
 * tokens again costs about as much here as a dozen decode steps, while a system prompt or a chat
 * history is hundreds of tokens. It is also the bar for a prompt-cache hit in the metrics.
 */
export const USEFUL_PREFIX_TOKENS = 64;

/**
 * When restoring a saved state pays: loading it costs RESTORE_FIXED_TOKENS plus
 * RESTORE_TOKENS_PER_SAVED_TOKEN per token of the saved state, in units of prompt tokens
 * evaluated, measured on 2 shared cores (AMD EPYC, AVX-512, gemma 3 270M Q4_K_M, files on tmpfs):
 * a load takes ~0.5 ms + ~15 µs per saved token (the file of a state past the sliding window
 * stops growing: ~18 KB per token up to 512 tokens, then ~3 KB), against ~2-3 ms per prompt token
 * evaluated. So restoring beats evaluating from a gain of a few tokens (break-even ≈ 8 tokens for a
 * 2,000-token state); below USEFUL_PREFIX_TOKENS nothing is saved anyway.
 */
export const RESTORE_FIXED_TOKENS = 2;
export const RESTORE_TOKENS_PER_SAVED_TOKEN = 1 / 200;

/** Where a request's reused prompt prefix came from (a miss: less than USEFUL_PREFIX_TOKENS reused). */
export type CacheOutcome = 'sequence' | 'host' | 'miss';

export type Assignment = { sequence: LlamaContextSequence; restored: boolean };

type Waiter = { resolve: (s: LlamaContextSequence) => void; reject: (e: Error) => void; signal: AbortSignal; onAbort: () => void };

/** The outcome the metrics count for a request that reused `cachedTokens` on `assignment`. */
export function cacheOutcome(assignment: Assignment | undefined, cachedTokens: number): CacheOutcome {
  if (!assignment || cachedTokens < USEFUL_PREFIX_TOKENS) return 'miss';
  return assignment.restored ? 'host' : 'sequence';
}

export class SequencePool {
  private readonly all: readonly LlamaContextSequence[];
  private readonly free: LlamaContextSequence[];
  private readonly waiters: Waiter[] = [];
  private readonly queueSize: number;
  private readonly host: HostPromptCache | undefined;
  private readonly onError: (err: unknown, what: string) => void;
  /** Release order: a higher stamp was used more recently (never used: 0). */
  private readonly lastUsed = new Map<LlamaContextSequence, number>();
  private clock = 0;
  /** Saves in flight: the sequence is not handed out before its save is done. */
  private readonly saving = new Map<LlamaContextSequence, Promise<void>>();
  running = 0;
  /** Called whenever running/waiting change (metrics). */
  onLoad: (running: number, waiting: number) => void = () => {};

  constructor(sequences: LlamaContextSequence[], opts: { queueSize: number; host?: HostPromptCache | undefined; onError?: (err: unknown, what: string) => void }) {
    this.all = [...sequences];
    // Popped from the end: the lowest id first.
    this.free = [...sequences].reverse();
    this.queueSize = opts.queueSize;
    this.host = opts.host;
    this.onError = opts.onError ?? (() => {});
  }

  get waiting(): number { return this.waiters.length; }
  get hostCache(): HostPromptCache | undefined { return this.host; }

  /** Takes a free sequence, or waits in the bounded queue; throws OverloadedError past it. */
  acquire(signal: AbortSignal): Promise<LlamaContextSequence> {
    if (signal.aborted) return Promise.reject(new AbortedError('aborted'));
    const s = this.free.pop();
    if (s) {
      this.running++;
      this.onLoad(this.running, this.waiters.length);
      return this.whenSaved(s);
    }
    if (this.waiters.length >= this.queueSize) return Promise.reject(new OverloadedError('all sequences busy and the wait queue is full'));
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

  /** Gives the sequence back; with a host cache its state is saved first, off the request's path. */
  release(seq: LlamaContextSequence): void {
    this.lastUsed.set(seq, ++this.clock);
    this.saveInBackground(seq);
    const w = this.waiters.shift();
    if (w) {
      w.signal.removeEventListener('abort', w.onAbort);
      this.onLoad(this.running, this.waiters.length);
      void this.whenSaved(seq).then(w.resolve);
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

  /**
   * The sequence the prompt `tokens` runs on, in exchange for the acquired one (free sequences are
   * idle, so swapping is safe): see the rule at the top. With `reuse` off (seeded sampling) no
   * prefix counts and nothing is restored. The returned sequence holds a restored state when
   * `restored`; the caller keeps the state of the common prefix and evaluates the rest.
   */
  async assign(acquired: LlamaContextSequence, tokens: readonly Token[], reuse = true): Promise<Assignment> {
    const candidates = [acquired, ...this.free];
    const ids = candidates.map(sequenceIdOf);
    // Sequences neither acquired nor free are generating; unknown if the library hides the ids.
    const busy = ids.every((id) => id !== undefined) ? new Set(this.all.map(sequenceIdOf).filter((id): id is number => id !== undefined && !ids.includes(id)))
      : undefined;
    const added = ids.map((id) => (busy && id !== undefined ? microBatchesAdded(id, busy) : 0));
    const prefixes = candidates.map((s) => (reuse ? Math.max(0, Math.min(commonPrefix(s.contextTokens, tokens), tokens.length - 1)) : 0));
    const fallback = this.fallbackIndex(candidates, ids, added);
    let chosen = this.longestUsefulIndex(candidates, ids, added, prefixes) ?? fallback;
    let restore: ReturnType<HostPromptCache['best']>;
    if (reuse && this.host) {
      const hit = this.host.best(tokens);
      const cost = (n: number) => RESTORE_FIXED_TOKENS + n * RESTORE_TOKENS_PER_SAVED_TOKEN;
      // Into the sequence rule 2/3 picks: a live sequence with a shorter useful prefix stays as it is.
      if (hit && hit.prefix - prefixes[chosen]! > cost(hit.entry.tokens.length)) { restore = hit; chosen = fallback; }
    }
    const seq = candidates[chosen]!;
    if (chosen !== 0) this.free[chosen - 1] = acquired;
    await this.whenSaved(seq);
    if (!restore) return { sequence: seq, restored: false };
    try {
      await this.host!.restore(seq, restore.entry);
      return { sequence: seq, restored: true };
    } catch (e) {
      // A state that does not load is evaluated instead; the sequence may hold anything now.
      this.onError(e, 'restoring a saved prompt state failed; evaluating the prompt');
      await seq.clearHistory();
      return { sequence: seq, restored: false };
    }
  }

  /** Index of the candidate with the longest useful prefix (less the contiguity cost); undefined when none. */
  private longestUsefulIndex(candidates: LlamaContextSequence[], ids: (number | undefined)[], added: number[], prefixes: number[]): number | undefined {
    let best: number | undefined;
    let bestScore = -Infinity;
    candidates.forEach((s, i) => {
      if (prefixes[i]! < USEFUL_PREFIX_TOKENS) return;
      const score = prefixes[i]! - CONTIGUITY_TOKENS * added[i]!;
      if (best === undefined || score > bestScore || (score === bestScore && this.olderOrLower(s, ids[i], candidates[best]!, ids[best]))) { best = i; bestScore = score; }
    });
    return best;
  }

  /**
   * Index of the candidate whose state is cheapest to lose: one that costs nothing (empty, shorter
   * than a useful prefix, or saved in the host cache), beside the busy sequences first, empty
   * first; else the least recently used.
   */
  private fallbackIndex(candidates: LlamaContextSequence[], ids: (number | undefined)[], added: number[]): number {
    const key = (s: LlamaContextSequence, i: number): number[] => {
      const n = s.contextTokens.length;
      // Losing a state the host cache holds costs a restore, not a prefill.
      const expendable = n < USEFUL_PREFIX_TOKENS || this.saving.has(s) || this.host?.covers(s.contextTokens) === true;
      return expendable
        ? [0, added[i]!, n === 0 ? 0 : 1, this.lastUsed.get(s) ?? 0, ids[i] ?? 0]
        : [1, this.lastUsed.get(s) ?? 0, added[i]!, ids[i] ?? 0];
    };
    const keys = candidates.map(key);
    let best = 0;
    for (let i = 1; i < keys.length; i++) {
      const a = keys[i]!;
      const b = keys[best]!;
      const k = a.findIndex((v, j) => v !== b[j]);
      if (k >= 0 && a[k]! < b[k]!) best = i;
    }
    return best;
  }

  private olderOrLower(a: LlamaContextSequence, aId: number | undefined, b: LlamaContextSequence, bId: number | undefined): boolean {
    const ta = this.lastUsed.get(a) ?? 0;
    const tb = this.lastUsed.get(b) ?? 0;
    return ta !== tb ? ta < tb : (aId ?? Infinity) < (bId ?? Infinity);
  }

  private saveInBackground(seq: LlamaContextSequence): void {
    const host = this.host;
    if (!host || seq.contextTokens.length < USEFUL_PREFIX_TOKENS || this.saving.has(seq)) return;
    if (host.covers(seq.contextTokens)) return;
    const done = host.save(seq)
      .catch((e: unknown) => { this.onError(e, 'saving a prompt state to the host cache failed'); })
      .finally(() => { this.saving.delete(seq); });
    this.saving.set(seq, done);
  }

  private async whenSaved(seq: LlamaContextSequence): Promise<LlamaContextSequence> {
    await this.saving.get(seq);
    return seq;
  }

  /** Waits for the saves in flight and removes the host cache's files. */
  async close(): Promise<void> {
    await Promise.all(this.saving.values());
    await this.host?.clear();
  }
}
