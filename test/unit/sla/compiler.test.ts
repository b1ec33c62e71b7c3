// The SLA compiler's pure parts: bucket boundaries, `le` spellings, tier planning (drops, fast
// tier, guards, time to page) and the shape of the rules.
import { describe, it, expect } from '@jest/globals';
import { sloBucketBoundaries } from '../../../src/sla/index.ts';
import { goFormatFloat, leRegex, leSpellings } from '../../../src/sla/le.ts';
import { slosOf } from '../../../src/sla/slos.ts';
import { PAGE_WITHIN, SUSTAINED_PAGE_WITHIN, minBadEvents, planSlo, timeToFireAt, timeToPageAt } from '../../../src/sla/tiers.ts';
import { compileSla, type AlertingRule, type RecordingRule } from '../../../src/sla/rules.ts';
import { explain } from '../../../src/sla/explain.ts';
import { budgets, fullSla, LINKS } from './fixtures.ts';

describe('sloBucketBoundaries', () => {
  it('is every latency/TTFT threshold and 1/min of the tokens floor, sorted and unique, in seconds', () => {
    expect(sloBucketBoundaries(slosOf(fullSla().spec.sla))).toEqual([0.05, 0.8, 3, 5]);
    expect(sloBucketBoundaries(slosOf(undefined))).toEqual([]);
    expect(sloBucketBoundaries(slosOf({ window: '30d', latency: { p95: '3s' }, timeToFirstToken: { p95: '3000ms' } }))).toEqual([3]);
  });
  it('rounds 1/min to 6 significant digits so every tool spells it alike', () => {
    expect(sloBucketBoundaries(slosOf({ window: '30d', outputTokensPerSecond: { min: 30, objective: '95%' } }))).toEqual([0.0333333]);
  });
});

describe('le', () => {
  it('accepts the exposition and the Prometheus 3 spellings', () => {
    expect(leSpellings(3)).toEqual(['3', '3.0']);
    expect(leSpellings(0.8)).toEqual(['0.8']);
    expect(leSpellings(1e-5)).toEqual(['0.00001', '1e-05']);
    expect(leSpellings(3600000)).toEqual(['3600000', '3600000.0', '3.6e+06']);
    expect(goFormatFloat(1234567)).toBe('1.234567e+06');
    const re = new RegExp(`^(?:${leRegex(3)})$`);
    expect(['3', '3.0'].every((s) => re.test(s))).toBe(true);
    expect(['30', '3.5', '0.3'].some((s) => re.test(s))).toBe(false);
  });
});

describe('planSlo', () => {
  const plan = (qsSlo: string) => planSlo(slosOf(budgets().spec.sla).concat(slosOf(fullSla().spec.sla)).find((s) => s.name === qsSlo)!);

  it('keeps the workbook table for a 99.9% SLO and adds the sustained-burn tier in front of it', () => {
    const p = planSlo(slosOf(fullSla().spec.sla).find((s) => s.name === 'error-rate')!);
    expect(p.tiers.map((t) => [t.severity, t.factor, t.long, t.short, t.origin])).toEqual([
      ['critical', 7, 1800, 300, 'sustained'],
      ['critical', 14.4, 3600, 300, 'workbook'], ['critical', 6, 21600, 1800, 'workbook'],
      ['warning', 3, 86400, 7200, 'workbook'], ['warning', 1, 259200, 21600, 'workbook'],
    ]);
    expect(p.dropped).toEqual([]);
    expect(p.sustainedReason).toMatch(/3h51m/);
    expect(p.fastReason).toBeUndefined();
    expect(p.timeToPage).toBeCloseTo(0.007 * 1800 + 120);
    expect(p.timeToPageSustained).toBeCloseTo(0.7 * 1800 + 120);
  });

  it('drops tiers whose factor x budget >= 1 and says why', () => {
    const p = plan('latency-p50');
    expect(p.dropped.map((d) => d.spec.factor)).toEqual([14.4, 6, 3]);
    expect(p.dropped[0]!.reason).toMatch(/can never fire/);
    expect(p.tiers.map((t) => [t.severity, t.factor])).toEqual([['critical', 1.5], ['warning', 1]]);
  });

  it('adds a fast tier when the other page tiers page a total breach later than 9 minutes', () => {
    const p95 = plan('latency-p95');
    expect(p95.tiers[0]).toMatchObject({ origin: 'fast', factor: 10.5, long: 600, short: 60, threshold: 0.525 });
    expect(p95.tiers[1]).toMatchObject({ origin: 'sustained', factor: 7, long: 1800, short: 300, threshold: 0.35 });
    expect(p95.fastReason).toMatch(/12m30s/);
    // p99: the sustained tier alone pages a total breach in 4m6s, no fast tier needed.
    const p99 = plan('latency-p99');
    expect(p99.tiers.map((t) => t.origin)).toEqual(['sustained', 'workbook', 'workbook', 'workbook', 'workbook']);
    expect(p99.timeToPage).toBeCloseTo(0.07 * 1800 + 120);
  });

  it('keeps the sustained tier\'s short window at four scrapes or more', () => {
    const slo = slosOf(fullSla().spec.sla).find((s) => s.name === 'latency-p99')!;
    expect(planSlo(slo, { scrapeInterval: 120 }).tiers[0]).toMatchObject({ origin: 'sustained', long: 1800, short: 480 });
  });

  it('times a steady burn by the long window filling: threshold / share x long + for', () => {
    const p95 = plan('latency-p95');
    const sustained = p95.tiers.find((t) => t.origin === 'sustained')!;
    expect(timeToFireAt(sustained, 0.05, 10)).toBeCloseTo(0.35 / 0.5 * 1800 + 120);
    expect(timeToFireAt(sustained, 0.05, 7)).toBeUndefined(); // exactly at the threshold: `>` never holds
    expect(timeToFireAt(sustained, 0.05, 40)).toBeCloseTo(sustained.timeToFire); // capped at a total breach
    expect(timeToPageAt(p95.tiers, 0.05, 2)).toBeUndefined();
    expect(timeToPageAt(p95.tiers, 0.05, 1 / 0.05)).toBe(p95.timeToPage);
  });

  it('pages a sustained 10x burn within 30 minutes and a total breach within 10, for budgets 0.1%..10%, every kind', () => {
    for (const kind of ['latency', 'ttft', 'tokens', 'errors', 'availability'] as const) {
      for (const budget of [0.0001, 0.001, 0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.0526, 0.06, 0.075, 0.1]) {
        const p = planSlo({ name: 'x', kind, objective: 1 - budget, budget, description: '' });
        expect(p.timeToPageSustained).toBeLessThanOrEqual(SUSTAINED_PAGE_WITHIN - 2 * 60);
        expect(p.timeToPage).toBeLessThanOrEqual(PAGE_WITHIN - 60);
        expect(timeToPageAt(p.tiers, budget, 2)).toBeUndefined();
        const windows = p.tiers.map((t) => `${t.severity}/${t.long}`);
        expect(new Set(windows).size).toBe(windows.length);
      }
    }
  });

  it('asks more bad events of tiers closer to the budget (low-traffic guard)', () => {
    const slo = slosOf(fullSla().spec.sla).find((s) => s.name === 'error-rate')!;
    expect(minBadEvents(slo, 0.0144)).toBe(4);
    expect(minBadEvents(slo, 0.006)).toBeGreaterThan(minBadEvents(slo, 0.0144));
    expect(minBadEvents(slo, 0.001)).toBeGreaterThan(minBadEvents(slo, 0.003));
  });
});

describe('compileSla', () => {
  const compiled = compileSla(fullSla(), LINKS);
  const rules = compiled.groups.flatMap((g) => g.rules);
  const alerts = rules.filter((r): r is AlertingRule => 'alert' in r);
  const records = rules.filter((r): r is RecordingRule => 'record' in r);

  it('is one group in dependency order: each rule reads only series recorded before it in that group', () => {
    // Separate groups are evaluated on their own timers (Prometheus 2.42 ordered ours either way):
    // an alert could read the previous evaluation's recording rules.
    expect(compiled.groups.map((g) => g.name)).toEqual(['qwen-slo-chat']);
    const recorded = new Set(records.map((r) => r.record));
    const seen = new Set<string>();
    for (const r of rules) {
      const reads = [...r.expr.matchAll(/qwen_slo:[a-z0-9_:]+/g)].map((m) => m[0]).filter((n) => recorded.has(n));
      for (const name of reads) expect([('record' in r ? r.record : r.alert), name, seen.has(name)]).toEqual([('record' in r ? r.record : r.alert), name, true]);
      if ('record' in r) seen.add(r.record);
    }
  });

  it('aggregates by (namespace, service) before dividing and selects the service', () => {
    for (const r of records.filter((x) => x.expr.includes('rate('))) {
      expect(r.expr).toMatch(/sum by \(namespace, service\)/);
      expect(r.expr).toContain('namespace="team-a",service="chat"');
    }
  });

  it('records every SLO over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLA window', () => {
    for (const w of ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']) {
      const names = records.filter((r) => r.record === `qwen_slo:sli_error:ratio_rate${w}`).map((r) => r.labels?.slo);
      expect(names.sort()).toEqual(['availability', 'error-rate', 'latency-p95', 'latency-p99', 'output-tokens-per-second', 'ttft-p95']);
    }
  });

  it('gives every burn alert the contract labels and a distinct window label per tier', () => {
    const burn = alerts.filter((a) => a.alert === 'QwenSLOBudgetBurn');
    const keys = burn.map((a) => `${a.labels.slo}/${a.labels.severity}/${a.labels.window}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const a of burn) {
      expect(a.labels).toMatchObject({ qwenservice: 'chat' });
      expect(['critical', 'warning']).toContain(a.labels.severity);
      expect(a.annotations).toHaveProperty('runbook_url', 'https://example.com/runbook#qwenslobudgetburn');
      expect(a.annotations.description).toMatch(/Error budget left/);
    }
    const absent = alerts.find((a) => a.alert === 'QwenSLOMetricsAbsent')!;
    expect(absent.expr).toContain('absent(gen_ai_server_request_duration_seconds_count{namespace="team-a",service="chat"})');
    expect(absent.for).toBe('10m');
  });

  it('never pages from histogram_quantile', () => {
    for (const a of alerts) expect(a.expr).not.toMatch(/histogram_quantile/);
  });

  it('explains tiers kept and dropped and the time to page', () => {
    const text = explain('team-a/chat', compileSla(budgets(), LINKS));
    expect(text).toMatch(/latency-p50:.*\n(.*\n)*\s+dropped\s+critical 1h\/5m\s+14.4x/);
    expect(text).toMatch(/a total breach pages after ~5m45s/);
    expect(text).toMatch(/latency-p999:(.*\n)*?\s+a 10x burn \(1% bad\) pages after ~23m\./);
    expect(text).toMatch(/sustained tier added: the workbook pages a 10x burn after 3h51m/);
  });
});
