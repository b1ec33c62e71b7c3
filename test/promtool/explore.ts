// Developer tool: which alerts fire, minute by minute, in one rule-test scenario. It asks
// promtool for "nothing fires" at each minute and reads what it got instead.
//   node test/promtool/explore.ts <scenario index> [ours|naive] [from-to minutes] [promtool path]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { SCENARIOS, NAIVE_RULES } from '../unit/sla/scenarios.ts';
import { inputSeries, SCRAPE_SECONDS } from '../unit/sla/series.ts';
import { budgets, fullSla, rulesOf } from '../unit/sla/fixtures.ts';
import { tempDir, writeYaml } from '../unit/sla/promtool.ts';
import { binDir } from '../support/tools.ts';

const [index = '0', kind = 'ours', range = '', promtool = join(binDir, 'promtool')] = process.argv.slice(2);
const s = SCENARIOS[Number(index)]!;
const [from, to] = range ? range.split('-').map(Number) as [number, number] : [0, s.profile.minutes];
const dir = tempDir('explore');
const rules = writeYaml(dir, 'rules.yaml', kind === 'ours' ? rulesOf(s.sla === 'full' ? fullSla() : budgets()) : NAIVE_RULES);
const by = kind === 'ours' ? 'alertname, slo, severity' : 'alertname, severity';
const minutes = Array.from({ length: to - from + 1 }, (_, i) => from + i);
const file = writeYaml(dir, 'test.yaml', {
  rule_files: [rules],
  evaluation_interval: '1m',
  tests: [{
    interval: `${SCRAPE_SECONDS}s`,
    input_series: inputSeries({ namespace: 'team-a', service: 'chat', ...s.profile }),
    promql_expr_test: minutes.map((m) => ({ expr: `max by (${by}) (ALERTS{alertstate="firing"})`, eval_time: `${m}m`, exp_samples: [] })),
  }],
});
const r = spawnSync(promtool, ['test', 'rules', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
const out = `${r.stdout}${r.stderr}`;
const fired = new Map<number, string[]>();
let at = -1;
for (const line of out.split('\n')) {
  const t = /time: (?:(\d+)h)?(?:(\d+)m)?/.exec(line);
  if (t && line.includes('expr:')) at = Number(t[1] ?? 0) * 60 + Number(t[2] ?? 0);
  for (const g of line.matchAll(/\{([^}]*)\}/g)) {
    if (!line.includes('got:') && !/^\s+\{/.test(line)) continue;
    const labels = Object.fromEntries([...g[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const name = labels.alertname === 'QwenSLOBudgetBurn' ? `${labels.severity}/${labels.slo}` : labels.alertname === 'QwenSLOMetricsAbsent' ? 'absent' : labels.alertname!;
    fired.set(at, [...(fired.get(at) ?? []), name]);
  }
}
let last = '';
for (const m of minutes) {
  const now = (fired.get(m) ?? []).sort().join(' ') || '-';
  if (now !== last) process.stdout.write(`${String(m).padStart(4)}m  ${now}\n`);
  last = now;
}
