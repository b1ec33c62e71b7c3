// Which alerts fire, minute by minute, when a traffic profile is replayed through promtool: it
// asks promtool for "nothing fires" at each minute and reads what it got instead. Developer tools
// (explore.ts, time-to-page.ts) use it to measure; the tests assert checkpoints instead.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { inputSeries, SCRAPE_SECONDS, type Profile } from '../unit/sla/series.ts';
import { tempDir, writeYaml } from '../with-tools/promtool.ts';
import { binDir } from '../support/tools.ts';

export const defaultPromtool = join(binDir, 'promtool');

/** Minute -> firing alerts (`critical/<slo>`, `warning/<slo>`, `absent`, or a naive alert's name). */
export function firingByMinute(rules: unknown, profile: Omit<Profile, 'namespace' | 'service'>, minutes: number[], kind: 'ours' | 'naive', promtool = defaultPromtool): Map<number, string[]> {
  const dir = tempDir('firing');
  const by = kind === 'ours' ? 'alertname, slo, severity' : 'alertname, severity';
  const file = writeYaml(dir, 'test.yaml', {
    rule_files: [writeYaml(dir, 'rules.yaml', rules)],
    evaluation_interval: '1m',
    tests: [{
      interval: `${SCRAPE_SECONDS}s`,
      input_series: inputSeries({ namespace: 'team-a', service: 'chat', ...profile }),
      promql_expr_test: minutes.map((m) => ({ expr: `max by (${by}) (ALERTS{alertstate="firing"})`, eval_time: `${m}m`, exp_samples: [] })),
    }],
  });
  const r = spawnSync(promtool, ['test', 'rules', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  const fired = new Map<number, string[]>();
  let at = -1;
  for (const line of `${r.stdout}${r.stderr}`.split('\n')) {
    const t = /time: (?:(\d+)h)?(?:(\d+)m)?/.exec(line);
    if (t && line.includes('expr:')) at = Number(t[1] ?? 0) * 60 + Number(t[2] ?? 0);
    for (const g of line.matchAll(/\{([^}]*)\}/g)) {
      if (!line.includes('got:') && !/^\s+\{/.test(line)) continue;
      const labels = Object.fromEntries([...g[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      const name = labels.alertname === 'QwenSLOBudgetBurn' ? `${labels.severity}/${labels.slo}` : labels.alertname === 'QwenSLOMetricsAbsent' ? 'absent' : labels.alertname!;
      fired.set(at, [...(fired.get(at) ?? []), name]);
    }
  }
  return fired;
}
