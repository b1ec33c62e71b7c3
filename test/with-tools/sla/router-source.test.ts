// With a router the SLO alerts read what clients see: the router's series (service="<name>-router",
// qwen_router_* histograms with the worker's labels), not the workers'. Replayed through promtool:
// a router whose requests fail pages; workers failing behind a router that answers well do not
// (the router retried or held them), and workers scaled to zero do not make the SLA unmeasured.
import { describe, expect, it } from '@jest/globals';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';
import { healthy } from '../../unit/sla/scenarios.ts';
import { inputSeries, SCRAPE_SECONDS, type Profile, type Traffic } from '../../unit/sla/series.ts';
import { fullSla, LINKS } from '../../unit/sla/fixtures.ts';
import { compileSla } from '../../../src/sla/rules.ts';
import { normalizeSla } from '../../../src/sla/slos.ts';
import { routerServiceOf } from '../../../src/sla/sli.ts';
import { ROUTER_METRIC } from '../../../router/src/contract.ts';
import { METRIC } from '../../../worker/src/contract.ts';

const dir = tempDir('router-source');
const qs = fullSla();
const rules = writeYaml(dir, 'router.rules.yaml', { groups: compileSla(qs, LINKS, normalizeSla(qs.spec.sla, 'router')).groups });
const MINUTES = 150;
const outageFrom = (start: number) => (m: number): Traffic => (m >= start ? { errors: { internal: 60 } } : healthy(60));

/** The router's series: the worker's shapes under the router's names and Service (it has no per-token histogram). */
function routerSeries(p: Omit<Profile, 'namespace' | 'service'>) {
  const rename: [string, string][] = [[METRIC.requestDuration, ROUTER_METRIC.requestDuration], [METRIC.timeToFirstToken, ROUTER_METRIC.timeToFirstToken]];
  return inputSeries({ namespace: 'team-a', service: routerServiceOf('chat'), ...p })
    .filter((s) => !s.series.startsWith(METRIC.timePerOutputToken))
    .map((s) => ({ ...s, series: rename.reduce((x, [from, to]) => x.replace(from, to), s.series) }));
}

function workerSeries(p: Omit<Profile, 'namespace' | 'service'>) {
  return inputSeries({ namespace: 'team-a', service: 'chat', ...p });
}

/** `firing`: the alerts of ALERTS at minute `at`, as `severity/slo` or `absent`. */
function ruleTest(name: string, series: ReturnType<typeof inputSeries>, checks: { at: number; firing: string[] }[]): string {
  const label = (f: string) => {
    if (f === 'absent') return '{alertname="QwenSLOMetricsAbsent", severity="warning"}';
    const [severity, slo] = f.split('/');
    return `{alertname="QwenSLOBudgetBurn", severity="${severity}", slo="${slo}"}`;
  };
  return writeYaml(dir, `${name}.test.yaml`, {
    rule_files: [rules],
    evaluation_interval: '1m',
    tests: [{
      interval: `${SCRAPE_SECONDS}s`,
      input_series: series,
      promql_expr_test: checks.map((c) => ({
        expr: 'max by (alertname, slo, severity) (ALERTS{alertstate="firing"})',
        eval_time: `${c.at}m`,
        exp_samples: c.firing.map((f) => ({ labels: label(f), value: 1 })),
      })),
    }],
  });
}

const CASES: [string, string][] = [
  ['the router\'s requests fail from 2h, the workers\' do not: pages (error-rate) within 5 min', ruleTest('router-burns', [
    ...routerSeries({ minutes: MINUTES, pods: 2, traffic: outageFrom(120) }),
    ...workerSeries({ minutes: MINUTES, pods: 2, traffic: () => healthy(60) }),
  ], [{ at: 119, firing: [] }, { at: 125, firing: ['critical/error-rate'] }])],
  ['the workers\' requests fail from 2h, the router\'s clients are served: no alert', ruleTest('workers-burn', [
    ...routerSeries({ minutes: MINUTES, pods: 2, traffic: () => healthy(60) }),
    ...workerSeries({ minutes: MINUTES, pods: 2, traffic: outageFrom(120) }),
  ], [{ at: 125, firing: [] }, { at: 150, firing: [] }])],
  ['the workers are scaled to zero from 1h, the router serves: the SLA is still measured (no absent alert)', ruleTest('workers-at-zero', [
    ...routerSeries({ minutes: MINUTES, pods: 2, traffic: () => healthy(60) }),
    ...workerSeries({ minutes: MINUTES, pods: 2, traffic: () => healthy(60), vanishAt: 60 }),
  ], [{ at: 90, firing: [] }, { at: 150, firing: [] }])],
];

describe.each(promtools())('$name: SLO alerts with a router', ({ path }) => {
  it.each(CASES)('%s', async (_name, file) => {
    const r = await run(path, ['test', 'rules', file], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 300_000);

  it('the router rules pass promtool check rules', async () => {
    const r = await run(path, ['check', 'rules', rules], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 60_000);
});
