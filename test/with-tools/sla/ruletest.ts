// promtool `test rules` files from a traffic profile and checkpoints (which alerts fire at which
// minute), shared by the scenario table and the burn ladder.
import { writeYaml } from '../promtool.ts';
import { inputSeries, SCRAPE_SECONDS, type Profile } from '../../unit/sla/series.ts';
import type { Checkpoint } from '../../unit/sla/scenarios.ts';

export type Kind = 'ours' | 'naive';

/** `critical/error-rate` -> the labels of max by (alertname, slo, severity) (ALERTS). */
function oursLabels(s: string): string {
  if (s === 'absent') return '{alertname="QwenSLOMetricsAbsent", severity="warning"}';
  const [severity, slo] = s.split('/');
  return `{alertname="QwenSLOBudgetBurn", severity="${severity}", slo="${slo}"}`;
}
const naiveSeverity: Record<string, string> = { HighResponseTime: 'warning', CriticalResponseTime: 'critical', HighErrorRate: 'warning', LowRequestSuccessRate: 'critical' };

function exprTest(c: Checkpoint, kind: Kind) {
  const by = kind === 'ours' ? 'alertname, slo, severity' : 'alertname, severity';
  const matchers = ['alertstate="firing"', ...(c.only ? [c.only] : [])].join(',');
  return {
    expr: `max by (${by}) (ALERTS{${matchers}})`,
    eval_time: `${c.at}m`,
    exp_samples: c.firing.map((f) => ({ labels: kind === 'ours' ? oursLabels(f) : `{alertname="${f}", severity="${naiveSeverity[f]}"}`, value: 1 })),
  };
}

/** Writes DIR/NAME.test.yaml replaying `profile` against `rules`, asserting `checkpoints`; returns its path. */
export function writeRuleTest(dir: string, name: string, rules: string, profile: Omit<Profile, 'namespace' | 'service'>, checkpoints: Checkpoint[], kind: Kind): string {
  return writeYaml(dir, `${name}.test.yaml`, {
    rule_files: [rules],
    evaluation_interval: '1m',
    tests: [{
      interval: `${SCRAPE_SECONDS}s`,
      input_series: inputSeries({ namespace: 'team-a', service: 'chat', ...profile }),
      promql_expr_test: checkpoints.map((c) => exprTest(c, kind)),
    }],
  });
}
