// Developer tool for docs/sla.md: time to page a steady burn (2x, 6x, 10x, 14.4x, total breach)
// by formula, workbook table vs ours, per budget; then measured in promtool on the burn ladder.
//   node test/promtool/time-to-page.ts [promtool path]
import { slosOf } from '../../src/sla/slos.ts';
import { formatSeconds } from '../../src/api/units.ts';
import { planSlo, timeToPageAt, workbookTiers } from '../../src/sla/tiers.ts';
import type { Slo } from '../../src/sla/slos.ts';
import { fullSla } from '../unit/sla/fixtures.ts';
import { BREACH_AT, BURNS } from '../unit/sla/burns.ts';
import { ladder } from '../unit/sla/burns.ts';
import { rulesOf } from '../unit/sla/fixtures.ts';
import { defaultPromtool, firingByMinute } from './firing.ts';

const promtool = process.argv[2] ?? defaultPromtool;
const burns = BURNS.map((b) => b.burn);
const text = (t: number | undefined) => (t === undefined ? 'never' : formatSeconds(t));
const generic = (budget: number): Slo => ({ name: `${budget * 100}% budget`, kind: 'latency', objective: 1 - budget, budget, description: '' });

const rows = [...slosOf(fullSla().spec.sla), ...[0.001, 0.01, 0.05, 0.1].map(generic)];
console.log(`| SLO (budget) | ${BURNS.map((b) => b.name).join(' | ')} |`);
console.log(`|---|${burns.map(() => '---').join('|')}|`);
for (const slo of rows) {
  const wb = workbookTiers(slo).tiers, ours = planSlo(slo).tiers;
  const cells = burns.map((b) => `${text(timeToPageAt(wb, slo.budget, b))} / **${text(timeToPageAt(ours, slo.budget, b))}**`);
  console.log(`| ${slo.name} (${Number((slo.budget * 100).toPrecision(3))}%) | ${cells.join(' | ')} |`);
}

console.log('\nMeasured (promtool, first minute the page fires after the burn starts; formula in brackets):\n');
const plans = planSlos();
console.log(`| burn | ${plans.map((p) => `${p.slo.name} (${p.slo.budget * 100}%)`).join(' | ')} |`);
console.log(`|---|${plans.map(() => '---').join('|')}|`);
for (const b of BURNS) {
  const minutes = Array.from({ length: b.profile.minutes - BREACH_AT + 1 }, (_, i) => BREACH_AT + i);
  const fired = firingByMinute(rulesOf(ladder()), b.profile, minutes, 'ours', promtool);
  const cells = plans.map((p) => {
    const first = minutes.find((m) => fired.get(m)?.includes(`critical/${p.slo.name}`));
    return `${first === undefined ? 'never' : `${first - BREACH_AT}m`} (${text(timeToPageAt(p.tiers, p.slo.budget, b.burn))})`;
  });
  console.log(`| ${b.name} | ${cells.join(' | ')} |`);
}

function planSlos() {
  return slosOf(ladder().spec.sla).map((s) => planSlo(s));
}
