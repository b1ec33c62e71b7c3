// The tenants' policy on a fake clock (no timing): bucket math, refunds, the headers' formats,
// priority refusals from the expected wait, and the fair order of the router's queue.
import { describe, expect, it } from '@jest/globals';
import { TokenBucket, formatReset } from '../src/tenants/bucket.ts';
import { TenantPolicy, type Priority } from '../src/tenants/policy.ts';
import { DEFAULT_COMPLETION_RESERVE, UsageReader, estimateRequest } from '../src/tenants/usage.ts';
import type { TenantLimits } from '../src/contract.ts';

type Limits = TenantLimits & { priority: Priority };

function policyOf(tenants: Record<string, Limits>, o: { replicas?: number; ttft?: number; ready?: number; parallel?: number } = {}) {
  const clock = { t: 0 };
  const p = new TenantPolicy({
    tenants: new Map(Object.entries(tenants)), replicas: o.replicas ?? 1, ttftObjectiveS: o.ttft, workerParallel: o.parallel ?? 1,
    readyWorkers: () => o.ready ?? 1, now: () => clock.t,
  });
  return { p, clock };
}
const est = (prompt: number, completion: number) => ({ prompt, completion });
const signal = () => new AbortController().signal;

describe('TokenBucket', () => {
  it('starts full, refills at capacity per minute, never above it; a refund may not overfill', () => {
    const b = new TokenBucket(600, 0);
    b.take(600, 0);
    expect(b.remaining(0)).toBe(0);
    expect(b.remaining(1000)).toBe(10);
    expect(b.waitMs(20, 1000)).toBeCloseTo(1000);
    expect(b.resetMs(1000)).toBeCloseTo(59_000);
    expect(b.remaining(120_000)).toBe(600);
    b.give(100, 120_000);
    expect(b.remaining(120_000)).toBe(600);
  });

  it('a request larger than the whole bucket waits for a full bucket, not forever', () => {
    const b = new TokenBucket(100, 0);
    b.take(50, 0);
    expect(b.waitMs(1000, 0)).toBeCloseTo(30_000);
  });
});

describe('formatReset (the x-ratelimit-reset-* format OpenAI sends)', () => {
  it.each([[0, '0s'], [20, '20ms'], [999.2, '1000ms'], [1000, '1s'], [1500, '1.5s'], [59_999, '59.999s'], [360_000, '6m0s'], [90_500, '1m30.5s'], [3_723_000, '1h2m3s']])('%d ms -> %s', (ms, s) => {
    expect(formatReset(ms)).toBe(s);
  });
});

describe('estimateRequest and UsageReader', () => {
  it('the prompt at 4 characters a token plus max_completion_tokens, max_tokens or the default', () => {
    expect(estimateRequest({ messages: [{ role: 'user', content: 'x'.repeat(40) }], max_tokens: 7 })).toEqual({ prompt: 10, completion: 7 });
    expect(estimateRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'abcd' }] }], max_completion_tokens: 3, max_tokens: 9 })).toEqual({ prompt: 1, completion: 3 });
    expect(estimateRequest({ prompt: 'abcdefgh' })).toEqual({ prompt: 2, completion: DEFAULT_COMPLETION_RESERVE });
  });

  it('reads the worker\'s usage from a JSON body, from an SSE usage chunk split across reads, or counts content chunks', () => {
    const json = new UsageReader(false);
    json.push(Buffer.from('{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,'));
    json.push(Buffer.from('"total_tokens":15,"prompt_tokens_details":{"cached_tokens":8}}}'));
    expect(json.result(0)).toEqual({ prompt: 12, completion: 3, cached: 8 });
    const sse = new UsageReader(true);
    sse.push(Buffer.from('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[],"usage":{"prompt_to'));
    sse.push(Buffer.from('kens":5,"completion_tokens":1}}\n\ndata: [DONE]\n\n'));
    expect(sse.result(99)).toEqual({ prompt: 5, completion: 1, cached: 0 });
    const bare = new UsageReader(true);
    bare.push(Buffer.from('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"delta":{"content":"b"}}]}\n\ndata: [DONE]\n\n'));
    expect(bare.result(40)).toEqual({ prompt: 40, completion: 2, cached: 0 });
  });
});

describe('TenantPolicy admission', () => {
  it('tokensPerMinute: a reservation over what is left is refused with reason tokens, Retry-After and the headers', () => {
    const { p, clock } = policyOf({ a: { priority: 'Standard', tokensPerMinute: 600, requestsPerMinute: 60 } });
    const first = p.admit('a', est(100, 400));
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(first.headers).toEqual({
      'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '600', 'x-ratelimit-remaining-tokens': '100', 'x-ratelimit-reset-tokens': '50s',
    });
    const second = p.admit('a', est(100, 400));
    expect(second).toMatchObject({ ok: false, reason: 'tokens', type: 'tokens', retryAfterS: 40 });
    expect(!second.ok && second.headers['x-ratelimit-remaining-tokens']).toBe('100');
    clock.t = 40_000;
    expect(p.admit('a', est(100, 400)).ok).toBe(true);
  });

  it('a refund of what was not used keeps a tenant that asks for large max_tokens but uses few from being refused early', () => {
    const { p } = policyOf({ a: { priority: 'Standard', tokensPerMinute: 1000 } });
    for (let i = 0; i < 10; i++) {
      const a = p.admit('a', est(10, 800));
      expect([i, a.ok]).toEqual([i, true]);
      if (!a.ok) return;
      void p.dispatch(a.ticket, 1000, signal());
      p.finish(a.ticket, { prompt: 10, completion: 5, cached: 0 }, true);
    }
    // Without the refund the second request would have been refused (810 + 810 > 1000).
    const withoutRefund = policyOf({ a: { priority: 'Standard', tokensPerMinute: 1000 } }).p;
    const a = withoutRefund.admit('a', est(10, 800));
    expect(a.ok).toBe(true);
    expect(withoutRefund.admit('a', est(10, 800)).ok).toBe(false);
  });

  it('requestsPerMinute and maxConcurrent, each divided by the router replicas', () => {
    const { p } = policyOf({ a: { priority: 'Standard', requestsPerMinute: 4, maxConcurrent: 3 } }, { replicas: 2, ready: 4, parallel: 4 });
    const a1 = p.admit('a', est(1, 1));
    const a2 = p.admit('a', est(1, 1));
    expect([a1.ok, a2.ok]).toEqual([true, true]);
    // ceil(3 / 2) = 2 at once at this replica.
    expect(p.admit('a', est(1, 1))).toMatchObject({ ok: false, reason: 'concurrency' });
    if (a1.ok) p.finish(a1.ticket, undefined, false);
    // 4 / 2 = 2 requests a minute at this replica: both taken.
    expect(p.admit('a', est(1, 1))).toMatchObject({ ok: false, reason: 'requests', retryAfterS: 30 });
  });

  it('undeclared tenants are default; default is unlimited unless declared', () => {
    const { p } = policyOf({ a: { priority: 'Standard', requestsPerMinute: 1 } });
    expect(p.tenantOf('zzz')).toBe('default');
    for (let i = 0; i < 5; i++) expect(p.admit('zzz', est(1, 1)).ok).toBe(true);
  });
});

describe('priority when the TTFT objective is at risk', () => {
  const tenants: Record<string, Limits> = { crit: { priority: 'Critical' }, std: { priority: 'Standard' }, batch: { priority: 'Batch' } };

  it('Batch is refused first (wait over half the objective), then Standard (over the objective), never Critical', () => {
    const { p } = policyOf(tenants, { ttft: 1.5, ready: 1, parallel: 2 });
    p.meanServiceS = 2;
    // Two slots, both free: nobody waits.
    const run = (t: string) => { const a = p.admit(t, est(1, 1)); if (a.ok) void p.dispatch(a.ticket, 60_000, signal()); return a; };
    expect([run('batch').ok, run('batch').ok]).toEqual([true, true]);
    // Slots full: a new request waits (0 + 2 - 2 + 1) x 2s / 2 = 1s: over half of 1.5s (Batch), not over 1.5s (Standard).
    expect(p.expectedWaitS('Batch')).toBe(1);
    expect(run('batch')).toMatchObject({ ok: false, reason: 'priority', retryAfterS: 1 });
    expect(run('std').ok).toBe(true);
    // One Standard queued: the next Standard would wait 2s > 1.5s; Critical sees no Standard ahead.
    expect(p.expectedWaitS('Standard')).toBe(2);
    expect(run('std')).toMatchObject({ ok: false, reason: 'priority' });
    expect(p.expectedWaitS('Critical')).toBe(1);
    for (let i = 0; i < 5; i++) expect(run('crit').ok).toBe(true);
  });

  it('no refusal before a service time is known, or without a TTFT objective', () => {
    const { p } = policyOf(tenants, { ttft: 0.1, ready: 1, parallel: 1 });
    for (let i = 0; i < 4; i++) expect(p.admit('batch', est(1, 1)).ok).toBe(true);
    const q = policyOf(tenants, { ready: 1, parallel: 1 }).p;
    q.meanServiceS = 100;
    for (let i = 0; i < 4; i++) expect(q.admit('batch', est(1, 1)).ok).toBe(true);
  });
});

describe('the fair queue', () => {
  it('the best priority goes first; within one, the tenant with the lowest virtual counter, then arrival', async () => {
    const { p } = policyOf({ a: { priority: 'Standard' }, b: { priority: 'Standard' }, c: { priority: 'Critical' } }, { ready: 1, parallel: 1 });
    const order: string[] = [];
    const go = (t: string, tokens: number) => {
      const a = p.admit(t, est(0, tokens));
      if (!a.ok) throw new Error('refused');
      return { ticket: a.ticket, done: p.dispatch(a.ticket, 60_000, signal()).then((o) => { order.push(`${t}${tokens}`); return o; }) };
    };
    const first = go('a', 100);
    await first.done;
    // While a100 runs: a queues twice, then b (lifted to a's counter: it was idle, nothing banked), then c.
    const [a10, a20, b30, c40] = [go('a', 10), go('a', 20), go('b', 30), go('c', 40)];
    expect(p.load).toEqual({ running: 1, queued: 4 });
    p.finish(first.ticket, { prompt: 0, completion: 100, cached: 0 }, true);
    // c (Critical) first; a10 and b30 tie at 100: arrival; then b (100) before a (110).
    for (const r of [c40, a10, b30, a20]) {
      await r.done;
      p.finish(r.ticket, undefined, true);
    }
    expect(order).toEqual(['a100', 'c40', 'a10', 'b30', 'a20']);
    expect(p.virtualOf('a')).toBe(130);
  });

  it('a tenant back from idle starts at the lowest counter of the busy ones (no banked idle time)', () => {
    const { p } = policyOf({ a: { priority: 'Standard' }, b: { priority: 'Standard' } }, { ready: 1, parallel: 8 });
    const a = p.admit('a', est(0, 1000));
    if (!a.ok) throw new Error('refused');
    void p.dispatch(a.ticket, 1000, signal());
    expect(p.virtualOf('a')).toBe(1000);
    const b = p.admit('b', est(0, 1));
    expect(b.ok).toBe(true);
    expect(p.virtualOf('b')).toBe(1000);
  });
});
