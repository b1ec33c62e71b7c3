// The SLI module (src/sla/sli.ts): one definition of each SLI, read raw (status fallback, rollout
// gates) or recorded (rules, status, dashboard, autoscaling). The rules' exact text is held by
// golden.test.ts; this checks what consumers other than the rules rely on.
import { describe, expect, it } from '@jest/globals';
import { compileSla, type RecordingRule } from '../../../src/sla/rules.ts';
import { matcher, quantileExpr, rawSli, recordedSli, selector, targetOf } from '../../../src/sla/sli.ts';
import { normalizeSla, sloBucketBoundaries, slosOf } from '../../../src/sla/slos.ts';
import { fullSla, LINKS } from './fixtures.ts';
import { planSla, sliSourceOf } from '../../../src/plan/index.ts';
import { routerServiceName } from '../../../src/plan/names.ts';

const qs = fullSla();
const t = targetOf(qs);
const { window, slos } = normalizeSla(qs.spec.sla);
const canary = matcher('rollouts_pod_template_hash', '=', 'abc');

describe('normalizeSla', () => {
  it('parses the window and every threshold once, in seconds and fractions', () => {
    expect(window).toBe(30 * 86400);
    expect(slos.map((s) => [s.name, s.objective, s.budget, s.threshold])).toEqual([
      ['latency-p95', 0.95, 0.05, 3], ['latency-p99', 0.99, 0.01, 5], ['ttft-p95', 0.95, 0.05, 0.8],
      ['output-tokens-per-second', 0.95, 0.05, 0.05], ['error-rate', 0.999, 0.001, undefined], ['availability', 0.995, 0.005, undefined],
    ]);
  });

  it('gives the worker the SLOs\' thresholds as bucket boundaries', () => {
    expect(sloBucketBoundaries(slosOf(qs.spec.sla))).toEqual([0.05, 0.8, 3, 5]);
  });
});

describe('rawSli', () => {
  it('is what the rules record for every event SLO, so the status fallback measures what pages', () => {
    const records = compileSla(qs, LINKS).groups.flatMap((g) => g.rules).filter((r): r is RecordingRule => 'record' in r);
    for (const slo of slos.filter((s) => s.kind !== 'availability')) {
      const rule = (name: string) => records.find((r) => r.record === name && r.labels?.slo === slo.name)!.expr;
      expect(rule(recordedSli(t, slo, 3600).badRatio.split('{')[0]!)).toBe(rawSli(t, slo, 3600).badRatio);
      expect(rule(recordedSli(t, slo, 3600).events.split('{')[0]!)).toBe(rawSli(t, slo, 3600).events);
    }
  });

  it('narrows every series it reads by the extra matchers (a canary\'s pods)', () => {
    for (const slo of slos) {
      const { badRatio, events } = rawSli(t, slo, 600, [canary]);
      const selectors = `${badRatio}\n${events}`.match(/\{[^}]*\}/g)!;
      expect(selectors.length).toBeGreaterThan(0);
      for (const s of selectors) expect(s).toMatch(/^\{namespace="team-a",service="chat",.*rollouts_pod_template_hash="abc"\}$/);
      expect(badRatio).toContain('[10m]');
    }
  });

  it('reads availability from `up`, needing no recording rule', () => {
    const availability = slos.find((s) => s.kind === 'availability')!;
    expect(rawSli(t, availability, 3600).badRatio).toBe('1 - max by (namespace, service) (avg_over_time(up{namespace="team-a",service="chat"}[1h]))');
    expect(recordedSli(t, availability, 3600)).toEqual({
      badRatio: 'qwen_slo:sli_error:ratio_rate1h{namespace="team-a",service="chat",slo="availability"}',
      events: 'qwen_slo:sli_events:increase1h{namespace="team-a",service="chat",slo="availability"}',
    });
  });
});

describe('selectors', () => {
  it('escape matcher values, so no label value can end the string', () => {
    expect(selector({ namespace: 'a"b', service: 'c\\d' }, matcher('x', '!~', 'y"'))).toBe('{namespace="a\\"b",service="c\\\\d",x!~"y\\""}');
  });

  it('quantiles leave the client\'s errors out of request latency only', () => {
    expect(quantileExpr(t, 'latency', 0.95, 300)).toBe('histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_request_duration_seconds_bucket{namespace="team-a",service="chat",error_type!~"invalid_request|cancelled"}[5m])))');
    expect(quantileExpr(t, 'ttft', 0.5, 300, [canary])).toBe('histogram_quantile(0.5, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket{namespace="team-a",service="chat",rollouts_pod_template_hash="abc"}[5m])))');
  });
});

describe('with a router (SliSource router)', () => {
  const rt = targetOf(qs, 'router');
  const routed = normalizeSla(qs.spec.sla, 'router');
  const records = compileSla(qs, LINKS, routed).groups.flatMap((g) => g.rules).filter((r): r is RecordingRule => 'record' in r);
  const byName = (name: string) => slos.find((s) => s.name === name)!;

  it('reads what clients see from the router\'s series: latency, TTFT, errors, availability', () => {
    for (const name of ['latency-p95', 'ttft-p95', 'error-rate', 'availability']) {
      const { badRatio, events } = rawSli(rt, byName(name), 3600);
      for (const s of `${badRatio}\n${events}`.match(/\{[^}]*\}/g)!) expect(s).toMatch(/^\{namespace="team-a",service="chat-router"[,}]/);
      expect(`${badRatio}\n${events}`).not.toContain('gen_ai_server_');
    }
    expect(rawSli(rt, byName('latency-p95'), 3600).events).toContain('qwen_router_request_duration_seconds_count{namespace="team-a",service="chat-router",error_type!~"invalid_request|cancelled"}');
    expect(rawSli(rt, byName('ttft-p95'), 3600).badRatio).toContain('qwen_router_time_to_first_token_seconds_bucket{namespace="team-a",service="chat-router",le=~');
    expect(rawSli(rt, byName('availability'), 3600).badRatio).toContain('up{namespace="team-a",service="chat-router"}');
    expect(quantileExpr(rt, 'ttft', 0.95, 300)).toContain('qwen_router_time_to_first_token_seconds_bucket{namespace="team-a",service="chat-router"}');
  });

  it('keeps the workers\' series for tokens/s (the router has no per-token histogram)', () => {
    expect(rawSli(rt, byName('output-tokens-per-second'), 3600)).toEqual(rawSli(t, byName('output-tokens-per-second'), 3600));
  });

  it('records under the QwenService\'s labels, so alerts, status and triggers read the same names as without a router', () => {
    for (const r of records.filter((x) => /chat-router/.test(x.expr))) expect(r.labels?.service).toBe('chat');
    expect(records.filter((x) => /chat-router/.test(x.expr)).length).toBeGreaterThan(0);
    const alerts = compileSla(qs, LINKS, routed).groups.flatMap((g) => g.rules).filter((r) => 'alert' in r);
    const plain = compileSla(qs, LINKS).groups.flatMap((g) => g.rules).filter((r) => 'alert' in r);
    // Burn alerts read only recorded series: the same expressions and labels; the absent alert asks for the router's series.
    expect(alerts.slice(0, -1).map((a) => [a.expr, a.labels])).toEqual(plain.slice(0, -1).map((a) => [a.expr, a.labels]));
    expect(alerts.at(-1)!.expr).toContain('absent(qwen_router_request_duration_seconds_count{namespace="team-a",service="chat-router"})');
    expect(alerts.at(-1)!.expr).not.toContain('gen_ai_server_');
  });

  it('is what the rules record, so the status fallback measures what pages', () => {
    for (const slo of slos.filter((s) => s.kind !== 'availability')) {
      const rule = (name: string) => records.find((r) => r.record === name && r.labels?.slo === slo.name)!.expr;
      expect(rule(recordedSli(rt, slo, 3600).badRatio.split('{')[0]!)).toBe(rawSli(rt, slo, 3600).badRatio);
    }
  });
});

describe('the plan\'s SLI source', () => {
  it('is the router with spec.router, the workers without', () => {
    expect(planSla(qs).source).toBe('worker');
    // spec.router comes with [G]'s API part; the plan reads it through sliSourceOf alone.
    const routed = { ...qs, spec: { ...qs.spec, router: {} } } as typeof qs;
    expect(sliSourceOf(routed)).toBe('router');
    expect(planSla(routed)).toEqual(normalizeSla(qs.spec.sla, 'router'));
  });

  it('selects the router\'s series by the name of the Service its ServiceMonitor scrapes', () => {
    expect(routerServiceName(qs)).toBe('chat-router');
    expect(rawSli(targetOf(qs, 'router'), slos[0]!, 300).events).toContain(`service="${routerServiceName(qs)}"`);
  });
});
