import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from '../../../src/controller/workqueue.ts';

describe('WorkQueue', () => {
  it('hands a key queued many times out once', async () => {
    const q = new WorkQueue();
    q.add('a'); q.add('a'); q.add('b'); q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    q.shutdown();
  });

  it('never gives a key being processed to a second worker; a re-add waits for done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a'); // event while reconciling
    const second = q.get();
    let got: string | undefined;
    void second.then((k) => { got = k; });
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toBeUndefined();
    q.done(first!);
    expect(await second).toBe('a');
    q.shutdown();
  });

  it('backs off a failing key exponentially and forgets on success', async () => {
    const q = new WorkQueue({ baseDelayMs: 20, maxDelayMs: 1000 });
    q.add('k');
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      const k = (await q.get())!;
      q.addRateLimited(k);
      q.done(k);
    }
    await q.get(); // after 20 + 40 + 80 ms of backoff
    expect(Date.now() - started).toBeGreaterThanOrEqual(130);
    expect(q.retries('k')).toBe(3);
    q.forget('k');
    expect(q.retries('k')).toBe(0);
    q.shutdown();
  });

  it('caps the backoff at maxDelayMs', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 30 });
    for (let i = 0; i < 10; i++) q.addRateLimited('x'); // 10 * 2^9 would be 5 s
    const t = Date.now();
    expect(await q.get()).toBe('x');
    expect(Date.now() - t).toBeLessThan(1000);
    q.shutdown();
  });

  it('backs off a blocked key on its own, slower schedule (no hot loop on a refused apply)', async () => {
    const q = new WorkQueue({ baseDelayMs: 1 });
    const slow = { baseDelayMs: 200, maxDelayMs: 1_000 };
    const started = Date.now();
    q.addRateLimited('k', slow);
    expect(await q.get()).toBe('k');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    q.done('k');
    q.addRateLimited('k', slow); // second failure: 400 ms
    const again = Date.now();
    expect(await q.get()).toBe('k');
    expect(Date.now() - again).toBeGreaterThanOrEqual(390);
    q.shutdown();
  });

  it('returns undefined to waiting workers on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
  });

  it('reports depth and adds to its hooks', async () => {
    const depths: number[] = [];
    let adds = 0;
    const q = new WorkQueue({ hooks: { onDepth: (d) => depths.push(d), onAdd: () => adds++ } });
    q.add('a'); q.add('b'); q.add('a');
    expect(adds).toBe(2);
    await q.get();
    expect(depths).toEqual([1, 2, 1]);
    q.shutdown();
  });
});
