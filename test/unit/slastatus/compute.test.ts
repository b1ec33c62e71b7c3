// The pure half of the SLA status loop: SLOs from a spec, rounding (no churn), reasons.
import { describe, expect, it } from '@jest/globals';
import { checkQwenService } from '../../../src/api/validate.ts';
import type { QwenService } from '../../../src/api/qwenservice.ts';
import { formatMeasuredSeconds } from '../../../src/api/units.ts';
import { leRegex } from '../../../src/sla/le.ts';
import { slosOf } from '../../../src/sla/slos.ts';
import { computeSla, type Measurement } from '../../../src/slastatus/compute.ts';
import { queriesFor } from '../../../src/slastatus/slos.ts';

function qs(sla: Record<string, unknown>): QwenService {
  const r = checkQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec: { gpu: { count: 0 }, sla } });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

const full = qs({ latency: { p95: '3s', p99: '5s' }, timeToFirstToken: { p95: '800ms' }, outputTokensPerSecond: { min: 20 }, errorRate: '0.1%', availability: '99.5%' });

describe('SLOs of a spec', () => {
  it('names them as the alert contract does, with their objectives and thresholds', () => {
    expect(slosOf(full.spec.sla).map((s) => [s.name, s.objective, s.threshold])).toEqual([
      ['latency-p95', 0.95, 3], ['latency-p99', 0.99, 5], ['ttft-p95', 0.95, 0.8],
      ['output-tokens-per-second', 0.95, 0.05], ['error-rate', 0.999, undefined], ['availability', 0.995, undefined],
    ]);
  });

  it('matches a bucket boundary however Prometheus spells it', () => {
    const re = (s: number) => new RegExp(`^(?:${leRegex(s)})$`);
    expect(re(3).test('3')).toBe(true);
    expect(re(3).test('3.0')).toBe(true);
    expect(re(3).test('30')).toBe(false);
    expect(re(0.05).test('0.05')).toBe(true);
    expect(re(0.05).test('0.5')).toBe(false);
  });

  it('selects the service by namespace and service, and leaves the client\'s errors out', () => {
    const q = queriesFor(full, slosOf(full.spec.sla).find((s) => s.name === 'error-rate')!, 30 * 86400);
    expect(q.badRatio).toContain('{namespace="team-a",service="chat",error_type!~"|invalid_request|cancelled"}');
    expect(q.events).toContain('error_type!~"invalid_request|cancelled"');
  });

  it('reads the recorded series first, the raw SLI only when they are absent', () => {
    const q = queriesFor(full, slosOf(full.spec.sla)[0]!, 3600);
    expect(q.badRatio).toMatch(/^max\(qwen_slo:sli_error:ratio_rate1h\{namespace="team-a",service="chat",slo="latency-p95"\}\) or on\(\) \(1 - /);
    expect(q.events).toMatch(/^max\(qwen_slo:sli_events:increase1h\{namespace="team-a",service="chat",slo="latency-p95"\}\) or on\(\) \(/);
  });
});

describe('status from measurements', () => {
  const [p95, , , , errors, avail] = slosOf(full.spec.sla);
  const m = (slo: typeof p95, bad: number, events = 1000, display?: number): Measurement => ({ slo: slo!, badRatio: bad, events, display, badRatio1h: bad, events1h: events / 10, display1h: display });

  it('WithinBudget with values rounded to steps, so jitter does not rewrite the status', () => {
    const a = computeSla(full, { reachable: true, firing: [], p95: 1.234, measurements: [m(p95, 0.01, 1000, 1.234), m(errors, 0.0002), m(avail, 0)] }, undefined);
    const b = computeSla(full, { reachable: true, firing: [], p95: 1.236, measurements: [m(p95, 0.01001, 1000, 1.236), m(errors, 0.000204), m(avail, 0)] }, undefined);
    expect(a).toEqual(b);
    expect(a.condition).toMatchObject({ status: 'True', reason: 'WithinBudget' });
    expect(a.sla.p95).toBe('1.2s');
    expect(a.sla.objectives![0]).toEqual({ slo: 'latency-p95', objective: '95% of requests complete within 3s', measured: 'p95 1.2s', measured1h: 'p95 1.2s', budgetRemaining: '80%', burnRate: '0.2' });
    expect(a.sla.objectives![1]).toMatchObject({ slo: 'error-rate', measured: '0.02% errors', budgetRemaining: '80%' });
    expect(a.sla.objectives![2]).toMatchObject({ slo: 'availability', measured: '100.00% up', budgetRemaining: '100%', burnRate: '0' });
  });

  it('ObjectiveMissed names the SLO and the numbers; BudgetBurning wins while an alert fires', () => {
    const missed = computeSla(full, { reachable: true, firing: [], measurements: [m(p95, 0.2, 1000, 4.1)] }, undefined);
    expect(missed.condition).toMatchObject({ status: 'False', reason: 'ObjectiveMissed' });
    expect(missed.condition.message).toBe('latency-p95: 80.0% good over 30d (objective 95% of requests complete within 3s, measured p95 4.1s), budget -300%');
    const burning = computeSla(full, { reachable: true, firing: [{ slo: 'latency-p95', severity: 'critical' }], measurements: [m(p95, 0.2, 1000, 4.1)] }, undefined);
    expect(burning.condition).toMatchObject({ status: 'False', reason: 'BudgetBurning' });
    expect(burning.condition.message).toBe('QwenSLOBudgetBurn firing for latency-p95 (critical, burn rate 4x, budget left -300%, last hour p95 4.1s; objective 95% of requests complete within 3s)');
  });

  it('NoTraffic while no request was measured, even with targets up', () => {
    const r = computeSla(full, { reachable: true, firing: [], measurements: [{ slo: p95! }, { slo: errors!, events: 0, badRatio: 0 }, m(avail, 0)] }, undefined);
    expect(r.condition).toMatchObject({ status: 'Unknown', reason: 'NoTraffic' });
  });

  it('PrometheusUnreachable keeps the last values', () => {
    const before = computeSla(full, { reachable: true, firing: [], measurements: [m(p95, 0.01, 1000, 1.2)] }, undefined).sla;
    const r = computeSla(full, { reachable: false, error: 'http://prom:9090: connect ECONNREFUSED' }, before);
    expect(r.condition).toMatchObject({ status: 'Unknown', reason: 'PrometheusUnreachable' });
    expect(r.sla.objectives).toEqual(before.objectives);
  });

  it('formats durations at two significant digits', () => {
    expect([0.0004, 0.0456, 0.84, 1, 1.84, 12.3, 120].map(formatMeasuredSeconds)).toEqual(['0.4ms', '46ms', '840ms', '1s', '1.8s', '12s', '120s']);
  });
});
