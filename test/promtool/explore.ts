// Developer tool: which alerts fire, minute by minute, in one rule-test scenario.
//   node test/promtool/explore.ts <scenario index> [ours|naive] [from-to minutes] [promtool path]
import { SCENARIOS, NAIVE_RULES } from '../unit/sla/scenarios.ts';
import { budgets, fullSla, rulesOf } from '../unit/sla/fixtures.ts';
import { defaultPromtool, firingByMinute } from './firing.ts';

const [index = '0', kind = 'ours', range = '', promtool = defaultPromtool] = process.argv.slice(2);
const s = SCENARIOS[Number(index)]!;
const [from, to] = range ? range.split('-').map(Number) as [number, number] : [0, s.profile.minutes];
const rules = kind === 'ours' ? rulesOf(s.sla === 'full' ? fullSla() : budgets()) : NAIVE_RULES;
const minutes = Array.from({ length: to - from + 1 }, (_, i) => from + i);
const fired = firingByMinute(rules, s.profile, minutes, kind === 'naive' ? 'naive' : 'ours', promtool);
let last = '';
for (const m of minutes) {
  const now = (fired.get(m) ?? []).sort().join(' ') || '-';
  if (now !== last) process.stdout.write(`${String(m).padStart(4)}m  ${now}\n`);
  last = now;
}
