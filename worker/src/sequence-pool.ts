// The pool of context sequences: a bounded wait queue, and which free sequence a request runs on.
// A sequence keeps its tokens' state after a request, so the choice decides whether a prompt's
// prefix is evaluated again. In order:
//   1. a sequence the prompt continues (its conversation's previous turn): the longest such;
//   2. a sequence whose state costs nothing to lose (empty, short, or saved in the host cache)
//      sharing a useful prefix (e.g. the system prompt): the longest such;
//   3. any sequence cheap to lose: the longest (even short) shared prefix, beside the busy ones
//      (one micro-batch per decode step, batch-order.ts), empty, least recently used — never one
//      holding another conversation while such a one is free (its next turn would be cold);
//   4. the one sharing the longest useful prefix, though it holds another conversation;
//   5. the least recently used.
// A prefix counts CONTIGUITY_TOKENS less for a sequence that would sit apart from the busy ones.
// With a host cache (prompt-cache.ts), a sequence's state is saved when its request ends, and a
// prompt that a saved state covers better than the chosen live sequence is restored into the
// sequence cheapest to lose instead of being evaluated. Both happen in `assign`, this file's one
// entry point for the choice; `acquire`/`release` are the queue.
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
 * A sequence holding at most this many tokens beyond what the prompt shares is the prompt's own
 * conversation going on: the client sent its answer back, maybe cut at a stop string or tokenized
 * otherwise at the end. One holding more is another conversation, kept while a cheaper one is free.
 */
export const CONTINUATION_SLACK_TOKENS = 8;

/**
 * When restoring a saved state pays: loading it costs RESTORE_FIXED_TOKENS plus
 * RESTORE_TOKENS_PER_SAVED_TOKEN per token of the saved state, in prompt tokens evaluated.
 * Measured on 2 shared cores (AMD EPYC, AVX-512, gemma 3 270M Q4_K_M, files on /dev/shm): a load
 * takes ~0.7 ms plus ~0.6 ms per MB (2.2 ms for 256 tokens, 4 ms for 512, 8 ms for a 2,048-token
 * state: ~18 KB per token up to the 512-token sliding window, ~3 KB beyond), while evaluating a
 * prompt costs ~3.4 ms per token on the idle machine (19-50 ms under the load of other jobs). So
 * the break-even gain is 1-3 tokens; the rule asks 2 + tokens/200 (12 for 2,000 tokens), a margin
 * for slower directories. Below USEFUL_PREFIX_TOKENS nothing is saved anyway.
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

/** A free sequence as the choice sees it. */
type Candidate = {
  seq: LlamaContextSequence;
  id: number | undefined;
  /** Tokens it holds. */
  held: number;
  /** Tokens of the prompt it holds (at most all but the prompt's last). */
  prefix: number;
  /** Micro-batches per decode step it would add beside the busy sequences (batch-order.ts). */
  added: number;
  lastUsed: number;
  /** Its state costs nothing to lose: empty, short, or saved in the host cache. */
  expendable: boolean;
};

/** Lexicographic comparison of sort keys (lower first). */
function before(a: readonly number[], b: readonly number[]): boolean {
  const k = a.findIndex((v, j) => v !== b[j]);
  return k >= 0 && a[k]! < b[k]!;
}

function minBy(xs: Candidate[], key: (x: Candidate) => number[]): Candidate | undefined {
  let best: Candidate | undefined;
  for (const x of xs) if (!best || before(key(x), key(best))) best = x;
  return best;
}

/** The longest shared prefix, less CONTIGUITY_TOKENS per added micro-batch; ties to the least recently used, then the lowest id. */
const longestPrefix = (xs: Candidate[]) => minBy(xs, (x) => [-(x.prefix - CONTIGUITY_TOKENS * x.added), x.lastUsed, x.id ?? Infinity]);

/**
 * The sequence whose state is cheapest to lose: an expendable one (the longest shared prefix,
 * however short, less CONTIGUITY_TOKENS per added micro-batch — a short prompt sent again reuses
 * what it can, for free — then empty, then least recently used), else the least recently used.
 */
const cheapestToLose = (xs: Candidate[]) => minBy(xs, (x) => (x.expendable
  ? [0, -(x.prefix - CONTIGUITY_TOKENS * x.added), x.held === 0 ? 0 : 1, x.lastUsed, x.id ?? Infinity]
  : [1, x.lastUsed, x.added, x.id ?? Infinity]))!;

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
  /** Sequences in the pool. */
  get size(): number { return this.all.length; }
  /** Tokens (KV cells) held by the sequences running a request: the idle ones' states are a cache a request may take. */
  get busyCells(): number {
    let n = 0;
    for (const s of this.all) if (!this.free.includes(s)) n += s.contextTokens.length;
    return n;
  }
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
    const c: Candidate[] = candidates.map((seq, i) => {
      const held = seq.contextTokens.length;
      const prefix = reuse ? Math.max(0, Math.min(commonPrefix(seq.contextTokens, tokens), tokens.length - 1)) : 0;
      return {
        seq, id: ids[i], held, prefix,
        added: busy && ids[i] !== undefined ? microBatchesAdded(ids[i], busy) : 0,
        lastUsed: this.lastUsed.get(seq) ?? 0,
        // Losing a state the host cache holds costs a restore, not a prefill.
        expendable: held < USEFUL_PREFIX_TOKENS || this.saving.has(seq) || this.host?.covers(seq.contextTokens) === true,
      };
    });
    const useful = (x: Candidate) => x.prefix >= USEFUL_PREFIX_TOKENS;
    // The prompt goes on from where the sequence stopped (the same conversation): only the tail the
    // client may have rendered differently (an answer cut at a stop string) is lost.
    const continued = (x: Candidate) => useful(x) && x.held - x.prefix <= CONTINUATION_SLACK_TOKENS;
    const cheapest = cheapestToLose(c);
    let chosen = longestPrefix(c.filter(continued))
      ?? longestPrefix(c.filter((x) => x.expendable && useful(x)))
      ?? (c.some((x) => x.expendable) ? cheapest : undefined)
      ?? longestPrefix(c.filter(useful))
      ?? cheapest;
    let restore: ReturnType<HostPromptCache['best']>;
    if (reuse && this.host) {
      const hit = this.host.best(tokens);
      const cost = (n: number) => RESTORE_FIXED_TOKENS + n * RESTORE_TOKENS_PER_SAVED_TOKEN;
      // Into the sequence cheapest to lose: a live sequence holding a shorter useful prefix stays.
      if (hit && hit.prefix - chosen.prefix > cost(hit.entry.tokens.length)) { restore = hit; chosen = cheapest; }
    }
    const seq = chosen.seq;
    const k = candidates.indexOf(seq);
    if (k !== 0) this.free[k - 1] = acquired;
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
