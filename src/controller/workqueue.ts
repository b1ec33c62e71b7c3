// A deduplicating work queue after client-go's: a key queued many times is processed once; a key
// being processed is never handed to a second worker (re-adds wait in `dirty` until done());
// failures come back with per-key exponential backoff, and a global token bucket caps the rate.

export type QueueHooks = {
  onAdd?: (key: string) => void;
  onDepth?: (depth: number) => void;
  /** How long the key waited in the queue, and how long its processing took (seconds). */
  onQueueLatency?: (seconds: number) => void;
  onWorkDuration?: (seconds: number) => void;
  onRetry?: (key: string) => void;
};

export type QueueOptions = { baseDelayMs?: number; maxDelayMs?: number; qps?: number; burst?: number; hooks?: QueueHooks };

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly hooks: QueueHooks;
  private tokens: number;
  private lastRefill = Date.now();
  private shuttingDown = false;

  constructor(opts: QueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 300_000;
    this.qps = opts.qps ?? 50;
    this.burst = opts.burst ?? 300;
    this.tokens = this.burst;
    this.hooks = opts.hooks ?? {};
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, Date.now());
    this.hooks.onAdd?.(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else {
      this.queue.push(key);
      this.hooks.onDepth?.(this.queue.length);
    }
  }

  /** Adds after a delay; a later shorter delay wins over a pending longer one. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const pending = this.timers.get(key);
    if (pending) clearTimeout(pending);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    t.unref();
    this.timers.set(key, t);
  }

  /**
   * Re-adds a failed key after its backoff (base * 2^failures, capped) and the global rate limit.
   * `backoff` overrides base and cap for failures that a quick retry will not fix (a refused
   * apply: waiting 5 ms, 10 ms, 20 ms... would be a hot loop against the apiserver).
   */
  addRateLimited(key: string, backoff: { baseDelayMs?: number; maxDelayMs?: number } = {}): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.hooks.onRetry?.(key);
    const base = backoff.baseDelayMs ?? this.baseDelayMs;
    const max = backoff.maxDelayMs ?? this.maxDelayMs;
    this.addAfter(key, Math.max(Math.min(max, base * 2 ** n), this.bucketDelayMs()));
  }

  /** Clears a key's failure history (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.hooks.onDepth?.(this.queue.length);
      return new Promise((resolve) => this.hand(key, resolve));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started !== undefined) this.hooks.onWorkDuration?.((Date.now() - started) / 1000);
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      const waiter = this.waiters.shift();
      if (waiter) this.hand(key, waiter);
      else {
        this.queue.push(key);
        this.hooks.onDepth?.(this.queue.length);
      }
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private hand(key: string, to: (key: string) => void): void {
    this.dirty.delete(key);
    this.processing.set(key, Date.now());
    const at = this.addedAt.get(key);
    if (at !== undefined) this.hooks.onQueueLatency?.((Date.now() - at) / 1000);
    this.addedAt.delete(key);
    to(key);
  }

  /** Global token bucket: 0 while tokens last, else the wait for the next one. */
  private bucketDelayMs(): number {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }
}
