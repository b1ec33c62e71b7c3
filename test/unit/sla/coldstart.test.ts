// `render --explain`'s cold start with a router and minReplicas 0: its parts, the assumptions it
// states, and what it costs the TTFT budget.
import { describe, expect, it } from '@jest/globals';
import { coldStart, explainColdStart, type ColdStartInput } from '../../../src/sla/coldstart.ts';
import { normalizeSla } from '../../../src/sla/slos.ts';
import { coldStartInput, renderText } from '../../../src/commands/render.ts';
import { defaultRenderConfig, resolvePlan } from '../../../src/plan/index.ts';
import { fullSla } from './fixtures.ts';

const qs = fullSla();
// full-sla.yaml: ttft p95 <= 800ms (5% budget), latency p95 <= 3s and p99 <= 5s.
const input = (over: Partial<ColdStartInput> = {}): ColdStartInput => ({
  modelBytes: 2.5e9, modelOnVolume: false, slos: normalizeSla(qs.spec.sla, 'router').slos, scaleToZeroAfter: 900, holdTimeout: 120, ...over,
});

describe('one cold start', () => {
  it('adds activation, pod start and the model load at the stated rate', () => {
    expect(coldStart(input())).toEqual({ seconds: 31, withoutLoad: 6, load: 25 });
    expect(coldStart(input({ modelOnVolume: true }))).toEqual({ seconds: 11, withoutLoad: 6, load: 5 });
    expect(coldStart(input({ modelBytes: undefined }))).toEqual({ withoutLoad: 6 });
  });

  it('says what it spends of the TTFT budget, and its assumptions', () => {
    const text = explainColdStart(input()).join('\n');
    expect(text).toContain('after 15m without requests');
    expect(text).toContain('image pull where the node lacks the image: unknown');
    expect(text).toContain('model load: 2.5 GB downloaded at every start (no model cache PVC) at an assumed 100 MB/s  ~25s');
    expect(text).toContain('one cold start takes ~31s before the first token.');
    expect(text).toContain('ttft-p95: one cold start ≈ 39x the 0.8 s threshold: every request held through it is one bad event.');
    expect(text).toContain('latency-p99: one cold start ≈ 6.2x the 5 s threshold');
    expect(text).toContain('at most 1% of requests may arrive cold');
    expect(text).toContain('at least 100 requests (1 / 1%) for each one held');
  });

  it('says the model load is unknown without the model\'s size, and counts what is known', () => {
    const text = explainColdStart(input({ modelBytes: undefined })).join('\n');
    expect(text).toContain('model load                                            unknown');
    expect(text).toContain('at least 6 s (without the model load)');
    expect(text).toContain('ttft-p95: one cold start > 7.5x the 0.8 s threshold');
  });

  it('warns when a cold start outlasts the router\'s hold', () => {
    expect(explainColdStart(input({ modelBytes: 20e9 })).join('\n')).toContain('longer than the router\'s holdTimeout (2m): the held request gets 503 instead');
  });

  it('spends nothing where every objective is longer than the cold start', () => {
    const slos = normalizeSla({ timeToFirstToken: { p95: '60s' } } as never, 'router').slos;
    expect(explainColdStart(input({ slos, modelOnVolume: true })).at(-1)).toContain('a cold start alone spends no budget');
  });
});

describe('render --explain', () => {
  // spec.router and minReplicas 0 come with [G]'s API part: built here without the schema's parse.
  const scaled = (router: boolean, minReplicas: number) => ({
    ...qs,
    spec: { ...qs.spec, autoscaling: { minReplicas, maxReplicas: 4, scaleDownStabilization: '5m', scaleToZeroAfter: '30m' }, ...(router ? { router: { holdTimeout: '3m' } } : {}) },
  }) as typeof qs;

  it('explains the cold start only with a router and minReplicas 0', () => {
    expect(coldStartInput(resolvePlan(scaled(false, 0), defaultRenderConfig))).toBeUndefined();
    expect(coldStartInput(resolvePlan(scaled(true, 1), defaultRenderConfig))).toBeUndefined();
    expect(coldStartInput(resolvePlan(scaled(true, 0), defaultRenderConfig))).toMatchObject({ scaleToZeroAfter: 1800, holdTimeout: 180, modelOnVolume: false });
    expect(renderText(scaled(true, 0), 'kube', true)).toContain('Cold start (router, minReplicas 0; the workers scale to zero after 30m without requests)');
    expect(renderText(qs, 'kube', true)).not.toContain('Cold start');
  });
});
