// The leader elector's clock rules against an in-memory Lease with the apiserver's optimistic
// concurrency (a stale resourceVersion is a 409). The same rules run on the real apiserver with
// two operator processes in test/integration/operator/leader.test.ts.
import { afterEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { KubeApiError, NotLeaderError } from '../../../src/kube/errors.ts';
import { LeaderElector, checkLeaderTimings, type Lease, type LeaseClient } from '../../../src/kube/leader.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

/** One Lease; every write bumps resourceVersion; `hang` makes requests wait for their signal. */
function fakeLeases(initial?: Lease['spec']) {
  let rv = 1;
  let lease: Lease | undefined = initial ? { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'ns', resourceVersion: String(rv) }, spec: initial } : undefined;
  const state = { hang: false, aborted: 0, writes: [] as string[] };
  const wait = async (signal?: AbortSignal) => {
    if (!state.hang) return;
    await new Promise<void>((_, reject) => signal?.addEventListener('abort', () => { state.aborted++; reject(new Error('aborted')); }, { once: true }));
  };
  const client = {
    async get(_a: string, _k: string, _ns: string, _n: string, opts: { signal?: AbortSignal } = {}) {
      await wait(opts.signal);
      if (!lease) throw new KubeApiError('GET', 'lease', 404, { reason: 'NotFound' });
      return structuredClone(lease);
    },
    async create(obj: Lease, _fm?: string, opts: { signal?: AbortSignal } = {}) {
      await wait(opts.signal);
      if (lease) throw new KubeApiError('POST', 'lease', 409, { reason: 'AlreadyExists' });
      lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      state.writes.push(`create ${obj.spec.holderIdentity}`);
      return structuredClone(lease);
    },
    async replace(obj: Lease, _fm?: string, opts: { signal?: AbortSignal } = {}) {
      await wait(opts.signal);
      if (obj.metadata.resourceVersion !== lease?.metadata.resourceVersion) throw new KubeApiError('PUT', 'lease', 409, { reason: 'Conflict' });
      lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      state.writes.push(`update ${obj.spec.holderIdentity}`);
      return structuredClone(lease);
    },
  } as unknown as LeaseClient;
  /** Another replica renewing with its own (skewed) clock. */
  const renewAs = (holder: string, renewTimeMs: number) => {
    lease = { ...lease!, metadata: { ...lease!.metadata, resourceVersion: String(++rv) }, spec: { ...lease!.spec, holderIdentity: holder, renewTime: microTime(renewTimeMs), leaseDurationSeconds: 1 } };
  };
  return { client, state, renewAs, holder: () => lease?.spec.holderIdentity };
}

const timings = { leaseDurationS: 1, renewDeadlineMs: 600, retryPeriodMs: 100 };
const electors: LeaderElector[] = [];
function elector(client: LeaseClient, identity: string, extra: { now?: () => number } = {}) {
  const e = new LeaderElector(client, { namespace: 'ns', name: 'l', identity, ...timings, ...extra }, log);
  const events: string[] = [];
  e.onStartedLeading = () => events.push('started');
  e.onStoppedLeading = (why) => events.push(`stopped: ${why}`);
  electors.push(e);
  return { e, events };
}
afterEach(async () => { await Promise.all(electors.splice(0).map((e) => e.stop())); });

describe('LeaderElector', () => {
  it('refuses timings where the renew deadline is not shorter than the lease', () => {
    expect(checkLeaderTimings({ leaseDurationS: 10, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toMatch(/longer than the renew deadline/);
    expect(checkLeaderTimings({ leaseDurationS: 15, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toMatch(/retry period/);
    expect(checkLeaderTimings({ leaseDurationS: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toBeUndefined();
  });

  it('takes over a dead holder whose renewTime is in the future (its clock ran ahead) after one lease duration of silence', async () => {
    const f = fakeLeases({ holderIdentity: 'ghost', leaseDurationSeconds: 1, renewTime: microTime(Date.now() + 3_600_000) });
    const { e, events } = elector(f.client, 'me');
    const started = Date.now();
    e.start();
    for (let i = 0; i < 50 && !e.isLeader(); i++) await sleep(50);
    expect(e.isLeader()).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(events).toEqual(['started']);
    expect(f.holder()).toBe('me');
  });

  it('never unseats a live holder whose renewTime is in the past (its clock runs behind)', async () => {
    const f = fakeLeases({ holderIdentity: 'other', leaseDurationSeconds: 1, renewTime: microTime(Date.now() - 3_600_000) });
    const { e, events } = elector(f.client, 'me');
    e.start();
    for (let i = 0; i < 12; i++) { await sleep(250); f.renewAs('other', Date.now() - 3_600_000); }
    expect(e.isLeader()).toBe(false);
    expect(events).toEqual([]);
    expect(f.state.writes).toEqual([]);
  });

  it('aborts a renewal that hangs, steps down at the renew deadline, fences writes, and never campaigns again', async () => {
    const f = fakeLeases();
    const { e, events } = elector(f.client, 'me');
    e.start();
    for (let i = 0; i < 20 && !e.isLeader(); i++) await sleep(25);
    expect(e.isLeader()).toBe(true);
    // A write let through may take what is left of the lease, never longer.
    const left = e.fence('apply', 'Deployment');
    expect(left).toBeGreaterThan(timings.leaseDurationS * 1000 - timings.renewDeadlineMs);
    expect(left).toBeLessThanOrEqual(timings.leaseDurationS * 1000);
    f.state.hang = true;
    const hungAt = Date.now();
    for (let i = 0; i < 40 && e.isLeader(); i++) await sleep(25);
    expect(e.isLeader()).toBe(false);
    expect(Date.now() - hungAt).toBeLessThan(timings.leaseDurationS * 1000);
    expect(f.state.aborted).toBeGreaterThanOrEqual(1);
    expect(events).toEqual(['started', expect.stringMatching(/^stopped: could not renew the lease within the 600 ms renew deadline/)]);
    expect(() => e.fence('apply', 'Deployment')).toThrow(NotLeaderError);
    f.state.hang = false;
    const writes = f.state.writes.length;
    await sleep(400);
    expect(f.state.writes.length).toBe(writes);
    expect(e.isLeader()).toBe(false);
  });

  it('refuses the first write after a pause past the renew deadline, before its renew loop runs', async () => {
    let skew = 0;
    const f = fakeLeases();
    const { e, events } = elector(f.client, 'me', { now: () => performance.now() + skew });
    e.start();
    for (let i = 0; i < 20 && !e.isLeader(); i++) await sleep(25);
    expect(e.isLeader()).toBe(true);
    skew = 5_000; // as if the process had been stopped for 5 s (SIGSTOP, a frozen VM)
    expect(() => e.fence('apply-status', 'QwenService')).toThrow(/renew deadline/);
    expect(e.isLeader()).toBe(false);
    expect(events).toEqual(['started', expect.stringMatching(/past the 600 ms renew deadline/)]);
  });

  it('steps down when it finds the lease held by another replica', async () => {
    const f = fakeLeases();
    const { e, events } = elector(f.client, 'me');
    e.start();
    for (let i = 0; i < 20 && !e.isLeader(); i++) await sleep(25);
    f.renewAs('usurper', Date.now());
    for (let i = 0; i < 20 && e.isLeader(); i++) await sleep(25);
    expect(events).toEqual(['started', 'stopped: the lease is held by usurper']);
  });

  it('releases the lease on stop, so a standby takes over at once', async () => {
    const f = fakeLeases();
    const a = elector(f.client, 'a');
    a.e.start();
    for (let i = 0; i < 20 && !a.e.isLeader(); i++) await sleep(25);
    const b = elector(f.client, 'b');
    b.e.start();
    await sleep(150);
    expect(b.e.isLeader()).toBe(false);
    await a.e.stop();
    expect(f.holder()).toBeNull();
    for (let i = 0; i < 20 && !b.e.isLeader(); i++) await sleep(25);
    expect(b.e.isLeader()).toBe(true);
  });
});
