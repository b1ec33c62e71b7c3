// Our SLO rules and the seed's naive rules replayed on the same traffic through promtool (every
// generation present): each scenario states which alerts fire at which minute. See docs/sla.md.
import { describe, it, expect } from '@jest/globals';
import { join } from 'node:path';
import { promtools, run, tempDir, writeYaml } from './promtool.ts';
import { inputSeries, SCRAPE_SECONDS } from './series.ts';
import { NAIVE_RULES, SCENARIOS, type Checkpoint, type Scenario } from './scenarios.ts';
import { budgets, fullSla, rulesOf } from './fixtures.ts';

const dir = tempDir('scenarios');
const ours = { full: writeYaml(dir, 'full.rules.yaml', rulesOf(fullSla())), budgets: writeYaml(dir, 'budgets.rules.yaml', rulesOf(budgets())) };
const naive = writeYaml(dir, 'naive.rules.yaml', NAIVE_RULES);

/** `critical/error-rate` -> the labels of max by (alertname, slo, severity) (ALERTS). */
function oursLabels(s: string): string {
  if (s === 'absent') return '{alertname="QwenSLOMetricsAbsent", severity="warning"}';
  const [severity, slo] = s.split('/');
  return `{alertname="QwenSLOBudgetBurn", severity="${severity}", slo="${slo}"}`;
}
const naiveSeverity: Record<string, string> = { HighResponseTime: 'warning', CriticalResponseTime: 'critical', HighErrorRate: 'warning', LowRequestSuccessRate: 'critical' };

function exprTest(c: Checkpoint, kind: 'ours' | 'naive') {
  const by = kind === 'ours' ? 'alertname, slo, severity' : 'alertname, severity';
  const matchers = ['alertstate="firing"', ...(c.only ? [c.only] : [])].join(',');
  return {
    expr: `max by (${by}) (ALERTS{${matchers}})`,
    eval_time: `${c.at}m`,
    exp_samples: c.firing.map((f) => ({ labels: kind === 'ours' ? oursLabels(f) : `{alertname="${f}", severity="${naiveSeverity[f]}"}`, value: 1 })),
  };
}

function testFile(s: Scenario, kind: 'ours' | 'naive'): string {
  const rules = kind === 'ours' ? ours[s.sla] : naive;
  const slug = `${SCENARIOS.indexOf(s)}-${kind}`;
  return writeYaml(dir, `${slug}.test.yaml`, {
    rule_files: [rules],
    evaluation_interval: '1m',
    tests: [{
      interval: `${SCRAPE_SECONDS}s`,
      input_series: inputSeries({ namespace: 'team-a', service: 'chat', ...s.profile }),
      promql_expr_test: (kind === 'ours' ? s.ours : s.naive).map((c) => exprTest(c, kind)),
    }],
  });
}

describe.each(promtools())('$name', ({ path }) => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('ours: %s', async (_name, s) => {
    const r = await run(path, ['test', 'rules', testFile(s, 'ours')], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 300_000);
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('naive: %s', async (_name, s) => {
    const r = await run(path, ['test', 'rules', testFile(s, 'naive')], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 300_000);
});

it('writes the scenario files next to each other', () => {
  expect(join(dir, 'full.rules.yaml')).toBe(ours.full);
});
