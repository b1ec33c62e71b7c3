// `promtool check rules` on the rules of every example and of random valid SLA blocks
// (fast-check), with every promtool generation present.
import { describe, it, expect } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { loadAll } from 'js-yaml';
import { parseQwenService } from '../../../src/api/validate.ts';
import { compileSla } from '../../../src/sla/rules.ts';
import { promtools, run, tempDir, writeYaml } from './promtool.ts';
import { LINKS } from './fixtures.ts';

const examplesDir = new URL('../../../manifests/examples/', import.meta.url);
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => loadAll(readFileSync(new URL(f, examplesDir), 'utf8')).map((doc) => [f, parseQwenService(doc)] as const))
  .filter(([, qs]) => qs.spec.sla);
const dir = tempDir('rules-check');

const duration = fc.oneof(fc.integer({ min: 1, max: 120 }).map((n) => `${n}s`), fc.integer({ min: 1, max: 5000 }).map((n) => `${n}ms`), fc.integer({ min: 1, max: 99 }).map((n) => `${n / 10}s`));
const percent = fc.oneof(fc.constantFrom('50%', '90%', '95%', '99%', '99.5%', '99.9%', '99.99%', '0.1%', '1%', '5%', '10%', '30%'), fc.integer({ min: 1, max: 99 }).map((n) => `${n}%`));
const percentiles = fc.record({ p50: duration, p90: duration, p95: duration, p99: duration, p999: duration }, { requiredKeys: [] })
  // Percentile thresholds must not decrease (p99 >= p95 ...): sort the drawn values.
  .map((r) => {
    const keys = (['p50', 'p90', 'p95', 'p99', 'p999'] as const).filter((k) => r[k]);
    const secs = (s: string) => (s.endsWith('ms') ? Number(s.slice(0, -2)) / 1000 : Number(s.slice(0, -1)));
    const sorted = keys.map((k) => r[k]!).sort((a, b) => secs(a) - secs(b));
    return Object.fromEntries(keys.map((k, i) => [k, sorted[i]]));
  });
const sla = fc.record({
  window: fc.constantFrom('7d', '14d', '28d', '30d'),
  latency: percentiles,
  timeToFirstToken: percentiles,
  outputTokensPerSecond: fc.record({ min: fc.integer({ min: 1, max: 500 }), objective: percent }),
  errorRate: percent,
  availability: percent,
}, { requiredKeys: [] });
const qwenService = fc.tuple(sla, fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/), fc.integer({ min: 0, max: 3 }), fc.constantFrom('15s', '30s', '1m'))
  .map(([s, name, replicas, interval]) => parseQwenService({
    apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace: 'ns-1' },
    spec: { replicas, sla: s, monitoring: { serviceMonitor: { interval } } },
  }));

describe.each(promtools())('$name', ({ path }) => {
  it.each(examples.map(([f, qs]) => [f, qs] as const))('check rules: %s', async (_f, qs) => {
    const file = writeYaml(dir, `${qs.metadata.name}.rules.yaml`, { groups: compileSla(qs, LINKS).groups });
    const r = await run(path, ['check', 'rules', file]);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('check rules: random valid SLA blocks (property)', async () => {
    // One promtool call per batch: many files in one `check rules`.
    const samples = fc.sample(qwenService, { numRuns: 25, seed: 42 });
    const files = samples.filter((qs) => compileSla(qs, LINKS).groups.length)
      .map((qs, i) => writeYaml(dir, `random-${i}.rules.yaml`, { groups: compileSla(qs, LINKS).groups }));
    const r = await run(path, ['check', 'rules', ...files]);
    expect(r.out).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
  }, 120_000);
});

it('random valid SLA blocks: every SLO pages a total breach within 10 minutes and a 10x burn within 30 (property)', () => {
  fc.assert(fc.property(qwenService, (qs) => {
    for (const p of compileSla(qs, LINKS).plans) {
      if (p.timeToPage === undefined || p.timeToPage > 540) return false;
      // Every budget a random SLA can declare (<= 10%) pages a sustained 10x burn within 28 minutes.
      if (p.slo.budget <= 0.1 && (p.timeToPageSustained === undefined || p.timeToPageSustained > 1680)) return false;
    }
    return true;
  }), { numRuns: 200 });
});
