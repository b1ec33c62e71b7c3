// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// - A lease counts as expired by *local* observation: a candidate remembers when it last saw the
//   record change (its own monotonic clock) and takes over only once leaseDuration has passed
//   since, whatever renewTime says; renewTime is written by another machine's clock, and a clock
//   ahead or behind must neither keep a dead leader in place nor unseat a live one.
// - The leader renews every retryPeriod; every request has a deadline (aborted, answer included)
//   and renewals stop counting at renewDeadline (< leaseDuration) after the last successful one.
// - A leader that misses its renew deadline or finds the lease held by another stops for good:
//   onStoppedLeading fires once (the process exits and its pod restarts as a standby).
// - canWrite()/fence() let the client refuse every write once the last renewal is older than
//   renewDeadline, checked right before each write is sent: a leader paused (SIGSTOP, a long GC,
//   a frozen VM) past its lease cannot write after waking, even before its renew loop runs. A
//   write let through must be done before the lease could pass on: fence() gives its deadline.
// Optimistic concurrency (resourceVersion on update) makes candidates racing for a free lease safe.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { NotLeaderError, isConflict, isNotFound } from './errors.ts';

export type LeaderOptions = {
  namespace: string;
  name: string;
  identity: string;
  /** How long a lease lasts, seen from the candidates (s). */
  leaseDurationS?: number;
  /** The leader stops writing this long after its last successful renewal (ms); < leaseDuration. */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew (ms). */
  retryPeriodMs?: number;
  /** A monotonic clock in ms (tests); performance.now by default. */
  now?: () => number;
};

export type Lease = {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string | null; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
};

/** The calls the elector makes (a KubeClient, or a stand-in in unit tests). */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'replace'>;

const LEASE_API = 'coordination.k8s.io/v1';
const microTime = (d: Date) => d.toISOString().replace('Z', '000Z');
const JITTER = 1.2;

export function checkLeaderTimings(o: { leaseDurationS: number; renewDeadlineMs: number; retryPeriodMs: number }): string | undefined {
  if (!(o.leaseDurationS * 1000 > o.renewDeadlineMs)) return `the lease duration (${o.leaseDurationS}s) must be longer than the renew deadline (${o.renewDeadlineMs}ms)`;
  if (!(o.renewDeadlineMs > o.retryPeriodMs * JITTER)) return `the renew deadline (${o.renewDeadlineMs}ms) must be longer than ${JITTER} x the retry period (${o.retryPeriodMs}ms)`;
  return undefined;
}

export class LeaderElector {
  private readonly client: LeaseClient;
  private readonly opts: Required<LeaderOptions>;
  private readonly log: Logger;
  private leading = false;
  /** Set once leadership is lost after it was held: this elector never campaigns again. */
  private lost = false;
  private stopped = false;
  /** Monotonic time at which the last successful acquire/renew was *started* (conservative). */
  private lastRenew = Number.NEGATIVE_INFINITY;
  /** The record as last read, and the monotonic time this replica saw it change. */
  private observed?: { resourceVersion?: string; holder?: string | null; leaseDurationS: number };
  private observedAt = 0;
  private loop?: Promise<void>;
  private wake?: () => void;
  private inflight?: AbortController;
  onStartedLeading: () => void = () => {};
  /** Fires once, when a leader stops leading (deadline missed, lease taken, or stop()). */
  onStoppedLeading: (reason: string) => void = () => {};

  constructor(client: LeaseClient, opts: LeaderOptions, log: Logger) {
    this.client = client;
    this.opts = { leaseDurationS: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, now: () => performance.now(), ...opts };
    const bad = checkLeaderTimings(this.opts);
    if (bad) throw new Error(bad);
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** True while this replica leads and its last renewal is younger than the renew deadline. */
  canWrite(): boolean {
    return this.leading && this.opts.now() - this.lastRenew < this.opts.renewDeadlineMs;
  }

  /**
   * The write fence (KubeClient.writeGate): throws NotLeaderError unless canWrite(). A leader
   * whose renewal is overdue steps down here, at its first write attempt. A write let through
   * gets what is left of the lease as its deadline (less than the lease duration, more than
   * leaseDuration - renewDeadline): once another replica may hold the lease, it is abandoned.
   */
  fence = (verb: string, kind: string): number => {
    if (this.canWrite()) return this.lastRenew + this.opts.leaseDurationS * 1000 - this.opts.now();
    const why = this.leading ? `last lease renewal ${Math.round(this.opts.now() - this.lastRenew)} ms ago, past the ${this.opts.renewDeadlineMs} ms renew deadline` : 'not the leader';
    if (this.leading) this.loseLeadership(why);
    throw new NotLeaderError(`${verb} ${kind} refused: ${why}`);
  };

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader gives the lease up so a standby need not wait for expiry. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.inflight?.abort();
    this.wake?.();
    await this.loop;
    if (!this.leading) return;
    const wasValid = this.canWrite();
    this.setLeading(false, 'shutting down');
    if (!wasValid) return; // another replica may hold it by now: leave the record alone
    try {
      const signal = AbortSignal.timeout(this.opts.renewDeadlineMs);
      const lease = await this.client.get<Lease>(LEASE_API, 'Lease', this.opts.namespace, this.opts.name, { signal });
      if (lease.spec.holderIdentity === this.opts.identity) {
        await this.client.replace({ ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) } }, undefined, { signal, unfenced: true });
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not release the lease');
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped && !this.lost) {
      if (this.leading) {
        const left = this.lastRenew + this.opts.renewDeadlineMs - this.opts.now();
        if (left <= 0) { this.loseLeadership(`could not renew the lease within the ${this.opts.renewDeadlineMs} ms renew deadline`); return; }
        const held = await this.attempt(left);
        if (held === 'other') { this.loseLeadership(`the lease is held by ${this.observed?.holder}`); return; }
        if (this.leading && this.lastRenew + this.opts.renewDeadlineMs <= this.opts.now()) { this.loseLeadership(`could not renew the lease within the ${this.opts.renewDeadlineMs} ms renew deadline`); return; }
        await this.sleep(this.opts.retryPeriodMs);
      } else {
        if (await this.attempt(this.opts.renewDeadlineMs) === 'ours') this.setLeading(true);
        if (!this.leading) await this.sleep(this.opts.retryPeriodMs * (1 + Math.random() * (JITTER - 1)));
      }
    }
  }

  /** One acquire-or-renew with a deadline; errors are logged, not thrown. */
  private async attempt(deadlineMs: number): Promise<'ours' | 'other' | 'failed'> {
    this.inflight = new AbortController();
    const signal = AbortSignal.any([this.inflight.signal, AbortSignal.timeout(Math.max(1, Math.floor(deadlineMs)))]);
    try {
      return await this.tryAcquireOrRenew(signal);
    } catch (err) {
      if (!this.stopped) this.log.warn({ err: String(err) }, 'lease update failed');
      return 'failed';
    } finally {
      this.inflight = undefined;
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<'ours' | 'other' | 'failed'> {
    const started = this.opts.now();
    const wall = new Date();
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(LEASE_API, 'Lease', this.opts.namespace, this.opts.name, { signal });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const created = await this.client.create<Lease>({
        apiVersion: LEASE_API, kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: this.opts.leaseDurationS, acquireTime: microTime(wall), renewTime: microTime(wall), leaseTransitions: 0 },
      }, undefined, { signal, unfenced: true });
      this.observe(created, this.opts.now());
      this.lastRenew = started;
      return 'ours';
    }
    this.observe(lease, this.opts.now());
    const holder = lease.spec.holderIdentity;
    if (holder && holder !== this.opts.identity) {
      // Expired only when this replica has seen no change for a whole lease duration.
      if (this.leading || this.observedAt + this.observed!.leaseDurationS * 1000 > this.opts.now()) return 'other';
    }
    const taking = holder !== this.opts.identity;
    try {
      const answer = await this.client.replace<Lease>({
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: this.opts.leaseDurationS,
          renewTime: microTime(wall),
          ...(taking ? { acquireTime: microTime(wall), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      }, undefined, { signal, unfenced: true });
      this.observe(answer, this.opts.now());
      this.lastRenew = started;
      return 'ours';
    } catch (e) {
      if (isConflict(e)) return 'failed'; // someone wrote the lease meanwhile; read it again next period
      throw e;
    }
  }

  /** Remembers the record and, when it changed, the local time this replica saw it change. */
  private observe(lease: Lease, at: number): void {
    const rv = lease.metadata.resourceVersion;
    if (this.observed && rv !== undefined && this.observed.resourceVersion === rv) return;
    this.observed = { resourceVersion: rv, holder: lease.spec.holderIdentity, leaseDurationS: lease.spec.leaseDurationSeconds ?? this.opts.leaseDurationS };
    this.observedAt = at;
  }

  private loseLeadership(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.log.error({ reason }, 'lost the lease; stepping down for good');
    this.setLeading(false, reason);
    this.wake?.();
  }

  private setLeading(value: boolean, reason = ''): void {
    if (this.leading === value) return;
    this.leading = value;
    this.log.info(value ? 'became leader' : 'stopped leading');
    if (value) this.onStartedLeading();
    else this.onStoppedLeading(reason);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }
}
