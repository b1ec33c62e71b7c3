// Requests waiting for a ready worker (scaled to zero, all restarting): a bounded FIFO. Each waits
// until endpoints appear (then all are let go in arrival order), its deadline passes, or its client
// leaves. The LoadCounter's `held` counts exactly the requests in here.
import type { LoadCounter } from './load.ts';

export type HoldOutcome = 'ready' | 'timeout' | 'aborted' | 'drain';

type Waiter = { resolve: (o: HoldOutcome) => void };

export class HoldQueue {
  private readonly waiters: Waiter[] = [];
  private readonly maxHeld: number;
  private readonly load: LoadCounter;

  constructor(opts: { maxHeld: number; load: LoadCounter }) {
    this.maxHeld = opts.maxHeld;
    this.load = opts.load;
  }

  get size(): number { return this.waiters.length; }

  /** Whether one more request may wait. */
  get full(): boolean { return this.waiters.length >= this.maxHeld; }

  /** Waits until release() (→ 'ready'), `timeoutMs` (→ 'timeout'), `signal` (→ 'aborted') or flush() (→ 'drain'). Check `full` first. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<HoldOutcome> {
    if (signal.aborted) return Promise.resolve('aborted');
    return new Promise<HoldOutcome>((resolve) => {
      const done = (o: HoldOutcome) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) { this.waiters.splice(i, 1); this.load.add('held', -1); }
        resolve(o);
      };
      const waiter: Waiter = { resolve: done };
      const onAbort = () => done('aborted');
      const timer = setTimeout(() => done('timeout'), Math.max(0, timeoutMs));
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.load.add('held', 1);
    });
  }

  /** Endpoints appeared: every held request goes, first come first. */
  release(): void {
    for (const w of [...this.waiters]) w.resolve('ready');
  }

  /** Shutting down past the drain grace: every held request is answered now. */
  flush(): void {
    for (const w of [...this.waiters]) w.resolve('drain');
  }
}
