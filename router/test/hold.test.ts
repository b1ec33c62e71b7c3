// The hold queue: first come first served when endpoints appear, bounded, and `held` exact however
// a wait ends (released, timed out, its client gone, drained); through the router, a held request
// whose client leaves is dropped at once.
import { describe, expect, it } from '@jest/globals';
import { HoldQueue } from '../src/hold-queue.ts';
import { LoadCounter } from '../src/load.ts';
import { freePort, routerFor, sample, until } from './support.ts';

describe('hold queue', () => {
  it('lets held requests go in arrival order, and counts them exactly however they leave', async () => {
    const load = new LoadCounter();
    const q = new HoldQueue({ maxHeld: 4, load });
    const order: string[] = [];
    const left = new AbortController();
    const waits = [
      q.wait(60_000, new AbortController().signal).then((o) => order.push(`a:${o}`)),
      q.wait(60_000, left.signal).then((o) => order.push(`b:${o}`)),
      q.wait(10, new AbortController().signal).then((o) => order.push(`c:${o}`)),
      q.wait(60_000, new AbortController().signal).then((o) => order.push(`d:${o}`)),
    ];
    expect([q.full, load.current().held]).toEqual([true, 4]);
    left.abort();
    await new Promise((r) => setTimeout(r, 30));
    expect(order).toEqual(['b:aborted', 'c:timeout']);
    expect(load.current().held).toBe(2);
    q.release();
    await Promise.all(waits);
    expect(order).toEqual(['b:aborted', 'c:timeout', 'a:ready', 'd:ready']);
    expect([q.size, load.current().held]).toEqual([0, 0]);
    const drained = q.wait(60_000, new AbortController().signal);
    q.flush();
    expect(await drained).toBe('drain');
    expect(load.current().held).toBe(0);
    expect(await q.wait(60_000, AbortSignal.abort())).toBe('aborted');
    expect(load.current().held).toBe(0);
  });

  it('a held request whose client leaves is dropped and counted as cancelled', async () => {
    const r = await routerFor([`http://127.0.0.1:${await freePort()}`], ['--hold-timeout=1m']);
    try {
      const ac = new AbortController();
      const req = fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"hi"}', signal: ac.signal }).catch(() => undefined);
      await until('held', () => r.load.current().held === 1);
      ac.abort();
      await req;
      await until('no longer held', () => r.load.current().held === 0, 5_000);
      await until('logged', () => r.requests().length === 1, 5_000);
      expect(r.requests()[0]).toMatchObject({ status: 499, error_type: 'cancelled' });
      expect(sample(await r.scrape(), 'qwen_router_request_duration_seconds_count{model="test",error_type="cancelled",tenant="default"}')).toBe(1);
      expect(r.load.current()).toEqual({ inFlight: 0, held: 0 });
    } finally {
      await r.drain();
    }
  });
});
