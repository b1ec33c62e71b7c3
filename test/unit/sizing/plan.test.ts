// What sizing gives one reconcile (src/sizing/plan.ts), the header cache behind it
// (src/sizing/header-cache.ts), the source → URL rule it shares with the worker
// (src/sizing/remote.ts), and the worker memory the renderer takes from the plan.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { formatBytes, parseQuantity } from '../../../src/api/units.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { OWNED_KINDS, kindKey, renderPlanned } from '../../../src/render/index.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import type { KubeObject } from '../../../src/kube/object.ts';
import { parseGgufHead } from '../../../src/sizing/gguf.ts';
import { modelFacts, type ModelFacts } from '../../../src/sizing/facts.ts';
import { estimateMemory, RUNTIME_OVERHEAD_BYTES } from '../../../src/sizing/estimate.ts';
import { HeaderCache } from '../../../src/sizing/header-cache.ts';
import { modelStatus, planSizing } from '../../../src/sizing/plan.ts';
import { sourceURL } from '../../../src/sizing/remote.ts';
import { hfUrl } from '../../../worker/src/model-source.ts';
import { qwen3Shaped4B } from '../../support/gguf-writer.ts';

const facts = modelFacts(parseGgufHead(qwen3Shaped4B()));
const SOURCE = 'https://models.example/q.gguf';
const qws = (spec: Record<string, unknown>, status?: Record<string, unknown>) =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'a' }, spec: { model: { source: SOURCE }, ...spec }, ...(status ? { status } : {}) });
const containerResources = (objs: KubeObject[]) =>
  (objs.find((o) => o.kind === 'Deployment')!.spec as { template: { spec: { containers: { resources: unknown }[] } } }).template.spec.containers[0]!.resources;

describe('planSizing', () => {
  it('is Unknown while the head is being read, or cannot be', () => {
    expect(planSizing(qws({}), { state: 'pending' }, 20).condition).toMatchObject({ type: 'SLAFeasible', status: 'Unknown', reason: 'ReadingModelHeader', message: `reading the GGUF header of ${SOURCE}` });
    expect(planSizing(qws({}), { state: 'failed', error: 'boom' }, 20).condition).toMatchObject({ status: 'Unknown', reason: 'ModelHeaderUnreadable', message: "cannot read the model's GGUF header: boom" });
    expect(planSizing(qws({}), { state: 'unavailable', why: 'pvc' }, 20)).toEqual({ condition: expect.objectContaining({ reason: 'ModelHeaderUnavailable' }) });
  });

  it('gives status.model and the worker memory: on a GPU the process and the logits, on the CPU everything', () => {
    const gpu = planSizing(qws({ gpu: { count: 1, product: 'NVIDIA-L4' } }), { state: 'read', facts }, 20);
    expect(gpu.model).toEqual({ source: SOURCE, ...facts });
    expect(gpu.workerMemory).toBe(`${Math.ceil((RUNTIME_OVERHEAD_BYTES + 4 * facts.vocabSize * 4) / 2 ** 20)}Mi`);
    const cpu = planSizing(qws({ gpu: { count: 0 } }), { state: 'read', facts }, 20);
    expect(cpu.workerMemory).toBe(`${Math.ceil(estimateMemory(facts, { contextSize: 8192, parallel: 4, kvCacheType: 'f16' }).host / 2 ** 20)}Mi`);
    expect(planSizing(qws({ gpu: { count: 0 }, resources: { limits: { memory: '8Gi' } } }), { state: 'read', facts }, 20).workerMemory).toBeUndefined();
  });

  it('sizes from status.model when the cache has nothing (a restarted operator), for the same source only', () => {
    const status = { model: modelStatus(SOURCE, facts) };
    expect(planSizing(qws({ gpu: { count: 0 } }, status), { state: 'pending' }, 20).condition.reason).toBe('WithinPhysicalBounds');
    expect(planSizing(qws({ gpu: { count: 0 } }, status), { state: 'failed', error: 'offline' }, 20).workerMemory).toBeDefined();
    const moved = qws({ model: { source: 'https://models.example/other.gguf' }, gpu: { count: 0 } }, status);
    expect(planSizing(moved, { state: 'pending' }, 20).condition.reason).toBe('ReadingModelHeader');
  });
});

describe('the worker memory in the Deployment', () => {
  it('is the plan\'s estimate when the spec names no memory, the spec\'s otherwise; none without sizing', () => {
    const served = new Set(OWNED_KINDS.map(kindKey));
    const sized = (qs: ReturnType<typeof qws>) => renderPlanned(resolvePlan(qs, defaultRenderConfig, served, { header: { state: 'read', facts }, cpuBandwidthGBps: 20 })).objects;
    const gpu = qws({ gpu: { count: 1 } });
    const memory = planSizing(gpu, { state: 'read', facts }, 20).workerMemory!;
    expect(containerResources(sized(gpu))).toEqual({ requests: { memory, 'nvidia.com/gpu': '1' }, limits: { memory, 'nvidia.com/gpu': '1' } });
    expect(containerResources(sized(qws({ gpu: { count: 0 }, resources: { requests: { memory: '2Gi', cpu: '1' } } })))).toEqual({ requests: { memory: '2Gi', cpu: '1' } });
    expect(containerResources(renderPlanned(resolvePlan(qws({ gpu: { count: 0 } }), defaultRenderConfig, served)).objects)).toEqual({});
  });

  it('grows by the prompt cache on top of the estimate or the spec\'s memory', () => {
    const served = new Set(OWNED_KINDS.map(kindKey));
    const sized = (qs: ReturnType<typeof qws>) => renderPlanned(resolvePlan(qs, defaultRenderConfig, served, { header: { state: 'read', facts }, cpuBandwidthGBps: 20 })).objects;
    const cpu = qws({ gpu: { count: 0 }, model: { source: SOURCE, promptCache: '1Gi' } });
    const memory = formatBytes(parseQuantity(planSizing(cpu, { state: 'read', facts }, 20).workerMemory!) + 2 ** 30);
    expect(containerResources(sized(cpu))).toEqual({ requests: { memory }, limits: { memory } });
    const limited = qws({ gpu: { count: 0 }, model: { source: SOURCE, promptCache: '1Gi' }, resources: { limits: { memory: '8Gi' } } });
    expect(containerResources(sized(limited))).toEqual({ limits: { memory: '9Gi' } });
  });
});

describe('HeaderCache', () => {
  const facts1 = facts as ModelFacts;
  it('reads each source once, tells every waiter, and reads a failed one again after a while', async () => {
    let now = 0;
    const reads: string[] = [];
    const told: string[][] = [];
    let fail = true;
    const cache = new HeaderCache({
      read: async (url) => { reads.push(url); if (fail) throw new Error('unreachable'); return facts1; },
      settled: (w) => told.push(w),
      retryAfterMs: 1000,
      now: () => now,
    });
    expect(cache.lookup(SOURCE, undefined, 'a/one')).toEqual({ state: 'pending' });
    expect(cache.lookup(SOURCE, undefined, 'a/two')).toEqual({ state: 'pending' });
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual([SOURCE]);
    expect(told).toEqual([['a/one', 'a/two']]);
    expect(cache.lookup(SOURCE, undefined, 'a/one')).toEqual({ state: 'failed', error: 'unreachable' });
    fail = false;
    now = 1000;
    expect(cache.lookup(SOURCE, undefined, 'a/one')).toEqual({ state: 'pending' });
    await new Promise((r) => setImmediate(r));
    expect(cache.lookup(SOURCE, undefined, 'a/one')).toEqual({ state: 'read', facts: facts1 });
    // A pinned SHA-256 is another entry; pvc:// is never read.
    cache.lookup(SOURCE, 'ab'.repeat(32), 'a/three');
    expect(reads).toHaveLength(3);
    expect(cache.lookup('pvc://models/q.gguf', undefined, 'a/four')).toMatchObject({ state: 'unavailable' });
  });

  it('sizes pvc:// and file:// sources from what their workers report, per QwenService; says why it waits', () => {
    const told: string[][] = [];
    const PVC = 'pvc://models/q.gguf';
    const read = async (): Promise<ModelFacts> => { throw new Error('not read'); };
    const without = new HeaderCache({ read, settled: () => {} });
    expect(without.lookup(PVC, undefined, 'a/one')).toEqual({ state: 'unavailable', why: expect.stringContaining('set prometheusURL (--prometheus-url) so the workers\' model facts can be read') });
    const cache = new HeaderCache({ read, settled: (w) => told.push(w), workerReports: true });
    expect(cache.lookup(PVC, undefined, 'a/one')).toEqual({ state: 'unavailable', why: expect.stringContaining('waiting for a worker to load it') });
    expect(cache.report('a/one', PVC, undefined, facts1)).toBe(true);
    expect(told).toEqual([['a/one']]);
    expect(cache.lookup(PVC, undefined, 'a/one')).toEqual({ state: 'read', facts: facts1 });
    // The same report again is no news; another QwenService (the same path in another namespace
    // may be another file) and another source or SHA-256 are not sized from it.
    expect(cache.report('a/one', PVC, undefined, facts1)).toBe(false);
    expect(told).toHaveLength(1);
    expect(cache.lookup(PVC, undefined, 'b/one')).toMatchObject({ state: 'unavailable' });
    expect(cache.lookup('file:///models/q.gguf', undefined, 'a/one')).toMatchObject({ state: 'unavailable' });
    expect(cache.lookup(PVC, 'ab'.repeat(32), 'a/one')).toMatchObject({ state: 'unavailable' });
  });

  it('uses what the workers report when the operator\'s own read of the head failed, not while it is in progress', async () => {
    const cache = new HeaderCache({ read: async () => { throw new Error('no egress'); }, settled: () => {}, workerReports: true });
    cache.report('a/one', SOURCE, undefined, facts1);
    expect(cache.lookup(SOURCE, undefined, 'a/one')).toEqual({ state: 'pending' });
    await new Promise((r) => setImmediate(r));
    expect(cache.lookup(SOURCE, undefined, 'a/one')).toEqual({ state: 'read', facts: facts1 });
    expect(cache.lookup(SOURCE, undefined, 'a/two')).toEqual({ state: 'failed', error: 'no egress' });
  });

  it('awaits a read in progress for a while when asked to', async () => {
    let release: (f: ModelFacts) => void = () => {};
    const cache = new HeaderCache({ read: () => new Promise((r) => { release = r; }), settled: () => {} });
    expect(await cache.lookupWithin(SOURCE, undefined, 'a/one', 20)).toEqual({ state: 'pending' });
    const waiting = cache.lookupWithin(SOURCE, undefined, 'a/two', 60_000);
    release(facts1);
    expect(await waiting).toEqual({ state: 'read', facts: facts1 });
  });
});

describe('sourceURL', () => {
  it.each(['hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M', 'hf:acme/repo/sub dir/model.gguf', 'hf:Qwen/Qwen2.5-7B-Instruct-GGUF:q4_k_m'])('resolves %s as the worker does', (source) => {
    expect(sourceURL(source)).toBe(hfUrl(source).url);
  });
  it('passes https URLs through and has none for pvc:// and file://', () => {
    expect(sourceURL('https://x.example/m.gguf?sig=1')).toBe('https://x.example/m.gguf?sig=1');
    expect(sourceURL('pvc://models/m.gguf')).toBeUndefined();
    expect(sourceURL('file:///models/m.gguf')).toBeUndefined();
  });
});
