// A per-minute limit as a token bucket: it holds at most `capacity` (the limit, this replica's share)
// and refills continuously at capacity per minute, so a tenant may burst its whole minute at once and
// then gets back 1/60 of it every second. A take reserves up front; give() refunds what was not used
// and take's debt() charges what went over (the level may go below zero: the next requests wait).

export class TokenBucket {
  readonly capacity: number;
  private readonly perMs: number;
  private level: number;
  private at: number;

  constructor(capacity: number, now: number) {
    this.capacity = capacity;
    this.perMs = capacity / 60_000;
    this.level = capacity;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) this.level = Math.min(this.capacity, this.level + (now - this.at) * this.perMs);
    this.at = Math.max(this.at, now);
  }

  /** What is left now (whole units, never below 0: the x-ratelimit-remaining-* value). */
  remaining(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.level));
  }

  /** Milliseconds until the bucket is full again (the x-ratelimit-reset-* value). */
  resetMs(now: number): number {
    this.refill(now);
    return Math.max(0, (this.capacity - this.level) / this.perMs);
  }

  /**
   * Milliseconds until `n` can be taken (0: now). A request larger than the whole bucket waits for
   * a full bucket, so it is never refused forever.
   */
  waitMs(n: number, now: number): number {
    this.refill(now);
    const need = Math.min(n, this.capacity);
    return this.level >= need ? 0 : (need - this.level) / this.perMs;
  }

  /** Takes `n` now (check waitMs first). */
  take(n: number, now: number): void {
    this.refill(now);
    this.level -= n;
  }

  /** Gives `n` back (a refund; negative charges more), never above the capacity. */
  give(n: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.capacity, this.level + n);
  }
}

/**
 * A duration as OpenAI's x-ratelimit-reset-* headers write it (Go's time.Duration format, which
 * the clients parse): "20ms", "1s", "1.5s", "6m0s", "1h2m3s".
 */
export function formatReset(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const totalMs = Math.ceil(ms);
  const h = Math.floor(totalMs / 3_600_000);
  const m = Math.floor((totalMs % 3_600_000) / 60_000);
  const s = (totalMs % 60_000) / 1000;
  const sec = `${Number(s.toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}
