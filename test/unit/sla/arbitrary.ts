// fast-check arbitraries for QwenServices with random valid SLA blocks, shared by the unit
// properties (time-to-page.test.ts) and `promtool check rules` (test/with-tools/sla/rules-check).
import fc from 'fast-check';
import { parseQwenService } from '../../../src/api/validate.ts';

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
/** A QwenService with a random valid SLA block, name, replica count and scrape interval. */
export const qwenService = fc.tuple(sla, fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/), fc.integer({ min: 0, max: 3 }), fc.constantFrom('15s', '30s', '1m'))
  .map(([s, name, replicas, interval]) => parseQwenService({
    apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace: 'ns-1' },
    spec: { replicas, sla: s, monitoring: { serviceMonitor: { interval } } },
  }));
