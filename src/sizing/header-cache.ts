// The model heads the operator has read, by source (and SHA-256 when the spec pins one): each is
// read once, in the background, and the QwenServices that asked are reconciled again when it
// settles. A failed read is kept (its reason is the SLAFeasible message) and retried after a
// while; the map is bounded, the oldest entry going first.
import { redactModelSource } from '../api/model-source.ts';
import type { ModelFacts } from './facts.ts';
import { sourceURL } from './remote.ts';

export type HeaderState =
  | { state: 'pending' }
  | { state: 'read'; facts: ModelFacts }
  | { state: 'failed'; error: string }
  | { state: 'unavailable'; why: string };

export type HeaderCacheOptions = {
  read: (url: string) => Promise<ModelFacts>;
  /** Called with the keys of the QwenServices that waited for a read that has now settled. */
  settled: (waiters: string[]) => void;
  hfEndpoint?: string;
  retryAfterMs?: number;
  maxEntries?: number;
  now?: () => number;
};

type Entry = { state: HeaderState; at: number; waiters: Set<string>; settled?: Promise<void> };

export class HeaderCache {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: HeaderCacheOptions;
  constructor(opts: HeaderCacheOptions) {
    this.opts = opts;
  }

  /** What is known of `source`'s head; starts reading it when nothing is (or a failure is old), and remembers `waiter` to requeue. */
  lookup(source: string, sha256: string | undefined, waiter: string): HeaderState {
    const url = sourceURL(source, this.opts.hfEndpoint);
    if (!url) return { state: 'unavailable', why: `the operator does not read ${redactModelSource(source)} (only hf: and https: sources); \`qwen-operator size --model-file\` sizes it offline` };
    const key = `${source}#${sha256 ?? ''}`;
    const now = this.opts.now?.() ?? Date.now();
    const entry = this.entries.get(key);
    const stale = entry?.state.state === 'failed' && now - entry.at >= (this.opts.retryAfterMs ?? 5 * 60_000);
    if (entry && !stale) {
      if (entry.state.state === 'pending') entry.waiters.add(waiter);
      return entry.state;
    }
    const fresh: Entry = { state: { state: 'pending' }, at: now, waiters: new Set([waiter]) };
    this.entries.delete(key);
    this.entries.set(key, fresh);
    while (this.entries.size > (this.opts.maxEntries ?? 256)) this.entries.delete(this.entries.keys().next().value!);
    fresh.settled = this.opts.read(url).then(
      (facts) => this.settle(fresh, { state: 'read', facts }),
      (err: unknown) => this.settle(fresh, { state: 'failed', error: err instanceof Error ? err.message : String(err) }),
    );
    return fresh.state;
  }

  /**
   * lookup, but a read in progress is awaited for up to `ms`: a new QwenService's Deployment can
   * then be created with its memory already sized, instead of being changed (a rollout) seconds later.
   */
  async lookupWithin(source: string, sha256: string | undefined, waiter: string, ms: number): Promise<HeaderState> {
    const state = this.lookup(source, sha256, waiter);
    const entry = this.entries.get(`${source}#${sha256 ?? ''}`);
    if (state.state !== 'pending' || !entry?.settled) return state;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([entry.settled, new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
    clearTimeout(timer);
    return entry.state;
  }

  private settle(entry: Entry, state: HeaderState): void {
    entry.state = state;
    entry.at = this.opts.now?.() ?? Date.now();
    // Waiters are told even when the entry was evicted meanwhile: their next lookup reads again.
    const waiters = [...entry.waiters];
    entry.waiters.clear();
    this.opts.settled(waiters);
  }
}
