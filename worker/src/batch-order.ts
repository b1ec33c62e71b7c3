// The order of a decode batch. llama.cpp keeps one KV-cache stream per sequence (node-llama-cpp
// does not ask for a unified cache) and then cuts a batch into micro-batches whose sequence ids
// are consecutive and increasing (`llama_batch_allocr::split_equal(..., sequential = true)`): one
// graph computation each. node-llama-cpp adds its queued decodes in arrival order, so four
// one-token decodes queued as sequences 3, 2, 1, 0 ran as four graph computations of one token
// instead of one of four (measured: 53 → 84 tokens/s at 4 concurrent requests on 2 cores).
// This puts every batch in sequence order, and lets the slot pool keep busy sequences contiguous
// (two requests on sequences 0 and 3 also cost two graph computations per step: 52 vs 59 tokens/s
// against llama-server at 2 concurrent requests, before the pool took contiguity into account).
//
// node-llama-cpp (pinned 3.21.1) shows neither a queued decode's sequence nor a sequence's id in
// its public API: both are read from its internal fields here, and nowhere else. Their shape is
// checked once at startup (SequenceOrder.enable): should a release rename them, the worker logs a
// warning and batches keep the library's own order (slower, never mis-ordered), and the worker
// test that checks the order fails.
import type { BatchItem, CustomBatchingPrioritizationStrategy, LlamaContext, LlamaContextSequence, PrioritizedBatchItem } from 'node-llama-cpp';

/**
 * A fair share of `size` batch slots for each item (what one cannot use goes to the others, as in
 * node-llama-cpp's default "maximumParallelism"), returned in increasing sequence id; in queue
 * order when an item's sequence is unknown.
 */
export function fairShareInSequenceOrder(items: readonly BatchItem[], size: number, sequenceOf: (item: BatchItem) => number | undefined): PrioritizedBatchItem[] {
  const shares = items.map((item) => ({ item, processAmount: 0 }));
  let left = size;
  let open = shares.filter((s) => s.item.tokens.length > 0);
  while (left > 0 && open.length > 0) {
    const share = Math.max(1, Math.floor(left / open.length));
    for (const s of open) {
      const add = Math.min(share, s.item.tokens.length - s.processAmount, left);
      s.processAmount += add;
      left -= add;
      if (left === 0) break;
    }
    open = open.filter((s) => s.processAmount < s.item.tokens.length);
  }
  const scheduled = shares.filter((s) => s.processAmount > 0);
  const ids = scheduled.map((s) => sequenceOf(s.item));
  if (ids.some((id) => id === undefined)) return scheduled;
  const order = scheduled.map((_, i) => i).sort((a, b) => ids[a]! - ids[b]!);
  return order.map((i) => scheduled[i]!);
}

type QueuedDecode = { sequenceId?: unknown; tokens?: unknown };

/**
 * Why node-llama-cpp's internals read here do not have the shape this module relies on (a release
 * renamed or retyped them), or undefined when they do. Checked once, on a context and one of its
 * sequences, right after the context is created (its queue is empty then: only its type is known).
 */
export function internalsMismatch(context: unknown, sequence: unknown): string | undefined {
  if (!Array.isArray((context as { _queuedDecodes?: unknown } | undefined)?._queuedDecodes)) return 'LlamaContext._queuedDecodes is not an array';
  if (typeof (sequence as { _sequenceId?: unknown } | undefined)?._sequenceId !== 'number') return 'LlamaContextSequence._sequenceId is not a number';
  return undefined;
}

/**
 * The batching strategy for a context that does not exist yet (it is passed to createContext).
 * It keeps the library's own order (a fair share per item in queue order, as its default
 * "maximumParallelism") until `enable` has checked the created context's internals.
 */
export class SequenceOrder {
  private context: LlamaContext | undefined;

  readonly strategy: CustomBatchingPrioritizationStrategy = ({ items, size }) => {
    const queued = (this.context as unknown as { _queuedDecodes?: readonly QueuedDecode[] } | undefined)?._queuedDecodes;
    const byTokens = new Map<unknown, number>();
    for (const q of queued ?? []) if (typeof q.sequenceId === 'number') byTokens.set(q.tokens, q.sequenceId);
    // Each item carries its queued decode's own token array.
    return fairShareInSequenceOrder(items, size, (item) => byTokens.get(item.tokens));
  };

  /**
   * Orders batches by sequence from now on if the internals have the expected shape; otherwise
   * returns why, and batches keep the library's order (slower, never mis-ordered).
   */
  enable(context: LlamaContext, sequence: LlamaContextSequence): string | undefined {
    const mismatch = internalsMismatch(context, sequence);
    if (mismatch === undefined) this.context = context;
    return mismatch;
  }
}

/** The sequence's id in the context (its KV-cache stream); undefined if the library hides it. */
export function sequenceIdOf(seq: LlamaContextSequence): number | undefined {
  const id = (seq as unknown as { _sequenceId?: unknown })._sequenceId;
  return typeof id === 'number' ? id : undefined;
}

/**
 * How many micro-batches a step gains when sequence `id` starts generating beside the `busy`
 * ones: 1 alone, 0 beside a busy neighbour, -1 when it joins two runs of busy sequences.
 */
export function microBatchesAdded(id: number, busy: ReadonlySet<number>): -1 | 0 | 1 {
  const below = busy.has(id - 1);
  const above = busy.has(id + 1);
  return below && above ? -1 : below || above ? 0 : 1;
}

/**
 * A kept prefix shorter than this many tokens is not worth an extra micro-batch on every step of
 * the generation: evaluating it again costs about as much as a dozen split steps here, while a
 * request generates hundreds. A long shared prefix (a system prompt, a chat history) always wins.
 */
export const CONTIGUITY_TOKENS = 64;
