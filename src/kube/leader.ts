// Leader election on a coordination.k8s.io/v1 Lease (client-go's algorithm, simplified): acquire
// when the lease is free or expired, renew every retryPeriod, step down when a renewal deadline
// passes, and release on shutdown so a standby takes over at once. Optimistic concurrency
// (resourceVersion on update) makes two candidates racing for an expired lease safe.
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';

export type LeaderOptions = {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationS?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
};

type Lease = {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string | null; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
};

const microTime = (d: Date) => d.toISOString().replace('Z', '000Z');

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly o: Required<LeaderOptions>;
  private readonly log: Logger;
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private timer?: NodeJS.Timeout;
  onStartedLeading: () => void = () => {};
  onStoppedLeading: () => void = () => {};

  constructor(client: KubeClient, opts: LeaderOptions, log: Logger) {
    this.client = client;
    this.o = { leaseDurationS: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err: String(err) }, 'lease update failed');
      }
      if (this.leading && Date.now() - this.lastRenew > this.o.renewDeadlineMs) {
        this.log.error('could not renew the lease before the deadline; stepping down');
        this.setLeading(false);
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.retryPeriodMs);
    };
    void tick();
  }

  /** Stops campaigning; a leader gives the lease up so a standby need not wait for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.client.get<Lease>('coordination.k8s.io/v1', 'Lease', this.o.namespace, this.o.name);
      if (lease.spec.holderIdentity === this.o.identity) {
        await this.client.replace({ ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) } });
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not release the lease');
    }
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = new Date();
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>('coordination.k8s.io/v1', 'Lease', this.o.namespace, this.o.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.client.create({
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: this.o.leaseDurationS, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      });
      this.renewed();
      return;
    }
    const holder = lease.spec.holderIdentity;
    const renewedAt = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const expired = renewedAt + (lease.spec.leaseDurationSeconds ?? this.o.leaseDurationS) * 1000 < now.getTime();
    if (holder && holder !== this.o.identity && !expired) {
      if (this.leading) this.setLeading(false);
      return;
    }
    const taking = holder !== this.o.identity;
    try {
      await this.client.replace({
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: this.o.identity,
          leaseDurationSeconds: this.o.leaseDurationS,
          renewTime: microTime(now),
          ...(taking ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      });
      this.renewed();
    } catch (e) {
      if (!isConflict(e)) throw e; // another candidate won the race; try again next period
    }
  }

  private renewed(): void {
    this.lastRenew = Date.now();
    if (!this.leading) this.setLeading(true);
  }

  private setLeading(value: boolean): void {
    if (this.leading === value) return;
    this.leading = value;
    this.log.info(value ? 'became leader' : 'stopped leading');
    if (value) this.onStartedLeading();
    else this.onStoppedLeading();
  }
}
