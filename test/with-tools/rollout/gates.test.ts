// The rollout gate's queries, evaluated by promtool (both generations) on synthetic worker series:
// four pod-template hashes serve side by side — a good canary, a canary that is slow, a canary
// with too few requests, and a stable version that is failing outright — and each canary's
// answer must be its own: within the threshold, above it, or no answer at all (Argo:
// Inconclusive, the step waits).
import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import { load } from 'js-yaml';
import { parseQwenService } from '../../../src/api/validate.ts';
import { CANARY_HASH_ARG, POD_TEMPLATE_HASH_LABEL, gatePlan } from '../../../src/sla/gates.ts';
import { slosOf } from '../../../src/sla/slos.ts';
import { inputSeries, type Traffic } from '../../unit/sla/series.ts';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';

const qs = parseQwenService(load(readFileSync('manifests/examples/canary.yaml', 'utf8')));
const plan = gatePlan(qs, slosOf(qs.spec.sla))!;
const WINDOW = plan.steps[0]!.pause;
const EVAL_MINUTE = 20;

/** Per-minute traffic of each version; the stable one fails in every way a canary could. */
const versions: Record<string, Traffic> = {
  good: { latency: [[0.4, 30], [4, 10]], errors: { internal: 0 } },
  slow: { latency: [[0.4, 20], [4, 20]], ttft: [[0.2, 10], [2, 30]] },
  few: { latency: [[0.4, 1]] },
  stable: { latency: [[10, 30]], ttft: [[2, 30]], tpot: [[0.09, 30]], errors: { internal: 30 } },
};
/** What each canary's bad share should be, per SLO (undefined: no answer, too few requests). */
const expected: Record<string, Record<string, number> | undefined> = {
  good: { 'latency-p95': 0.25, 'ttft-p95': 0, 'output-tokens-per-second': 0, 'error-rate': 0 },
  slow: { 'latency-p95': 0.5, 'ttft-p95': 0.75, 'output-tokens-per-second': 0, 'error-rate': 0 },
  few: undefined,
};

const withHash = (series: string, hash: string) => series.replace(/}$/, `,${POD_TEMPLATE_HASH_LABEL}="${hash}"}`);
const series = Object.entries(versions).flatMap(([hash, traffic]) =>
  inputSeries({ namespace: 'team-a', service: 'chat-canary', minutes: EVAL_MINUTE + 5, traffic: () => traffic }).map((s) => ({ ...s, series: withHash(s.series, hash) })),
);

const dir = tempDir('gates');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the canary example gate', () => {
  it('gates on every latency, TTFT, tokens/s and error-rate SLO, not availability', () => {
    expect(plan.checks.map((c) => c.slo.name).sort()).toEqual(['error-rate', 'latency-p95', 'output-tokens-per-second', 'ttft-p95']);
    expect(plan.checks.find((c) => c.slo.name === 'latency-p95')!.maxBadShare).toBeCloseTo(0.3, 12);
    expect(plan.checks.find((c) => c.slo.name === 'error-rate')!.maxBadShare).toBeCloseTo(0.06, 12);
  });

  const tests = Object.entries(expected).flatMap(([hash, shares]) => plan.checks.map((c) => ({
    // Rounded: the shares are ratios of increases, exact but for float noise.
    expr: `round(${c.query(WINDOW).replaceAll(`{{args.${CANARY_HASH_ARG}}}`, hash)}, 0.0001)`,
    eval_time: `${EVAL_MINUTE}m`,
    exp_samples: shares ? [{ labels: '{namespace="team-a", service="chat-canary"}', value: shares[c.slo.name]! }] : [],
  })));
  const file = writeYaml(dir, 'gates.test.yaml', { rule_files: [], evaluation_interval: '1m', tests: [{ interval: '15s', input_series: series, promql_expr_test: tests }] });

  it.each(promtools().map((p) => [p.name, p.path]))('%s: each canary is measured alone; too few requests give no answer', async (_name, path) => {
    const r = await run(path, ['test', 'rules', file]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  it('passes the good canary, fails the slow one on latency and TTFT only', () => {
    const verdict = (hash: string) => plan.checks.map((c) => [c.slo.name, expected[hash]![c.slo.name]! <= c.maxBadShare ? 'pass' : 'fail']);
    expect(Object.fromEntries(verdict('good'))).toEqual({ 'latency-p95': 'pass', 'ttft-p95': 'pass', 'output-tokens-per-second': 'pass', 'error-rate': 'pass' });
    expect(Object.fromEntries(verdict('slow'))).toEqual({ 'latency-p95': 'fail', 'ttft-p95': 'fail', 'output-tokens-per-second': 'pass', 'error-rate': 'pass' });
  });
});
