// The model heads the operator has read, by source (and SHA-256 when the spec pins one): each is
// read once, in the background, and the QwenServices that asked are reconciled again when it
// settles. A failed read is kept (its reason is the SLAFeasible message) and retried after a
// while; the map is bounded, the oldest entry going first. The heads the operator cannot read
// (pvc:// and file:// sources, or a read that failed) are reported by the workers that loaded the
// model (the SLA loop reads their facts from Prometheus): those are kept per QwenService, as the
// same pvc:// or file:// path may name different files in different namespaces or nodes.
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
  /** Whether the workers' reports can arrive (the operator reads Prometheus); else their wait is pointless and the condition says so. */
  workerReports?: boolean;
  retryAfterMs?: number;
  maxEntries?: number;
  now?: () => number;
};

type Entry = { state: HeaderState; at: number; waiters: Set<string>; settled?: Promise<void> };
type Report = { source: string; sha256: string | undefined; facts: ModelFacts };

export class HeaderCache {
  private readonly entries = new Map<string, Entry>();
  /** Facts the workers of a QwenService reported, by its key. */
  private readonly reports = new Map<string, Report>();
  private readonly opts: HeaderCacheOptions;
  constructor(opts: HeaderCacheOptions) {
    this.opts = opts;
  }

  /** What is known of `source`'s head; starts reading it when nothing is (or a failure is old), and remembers `waiter` to requeue. */
  lookup(source: string, sha256: string | undefined, waiter: string): HeaderState {
    const url = sourceURL(source, this.opts.hfEndpoint);
    const report = this.reports.get(waiter);
    const reported = report && report.source === source && report.sha256 === sha256 ? report.facts : undefined;
    if (!url) {
      if (reported) return { state: 'read', facts: reported };
      const where = redactModelSource(source);
      return {
        state: 'unavailable',
        why: this.opts.workerReports
          ? `the operator does not read ${where} itself: waiting for a worker to load it and report its facts (gen_ai_server_model_info, read from Prometheus)`
          : `the operator does not read ${where} itself (only hf: and https: sources); set prometheusURL (--prometheus-url) so the workers' model facts can be read, or size it offline with \`qwen-operator size --model-file\``,
      };
    }
    const known = this.lookupURL(url, source, sha256, waiter);
    return known.state === 'failed' && reported ? { state: 'read', facts: reported } : known;
  }

  /**
   * Facts the workers of QwenService `waiter` report for `source` (they loaded it). True, and the
   * QwenService is requeued, when they are news.
   */
  report(waiter: string, source: string, sha256: string | undefined, facts: ModelFacts): boolean {
    const before = this.reports.get(waiter);
    if (before && before.source === source && before.sha256 === sha256 && JSON.stringify(before.facts) === JSON.stringify(facts)) return false;
    this.reports.delete(waiter);
    this.reports.set(waiter, { source, sha256, facts });
    while (this.reports.size > (this.opts.maxEntries ?? 256)) this.reports.delete(this.reports.keys().next().value!);
    this.opts.settled([waiter]);
    return true;
  }

  private lookupURL(url: string, source: string, sha256: string | undefined, waiter: string): HeaderState {
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
