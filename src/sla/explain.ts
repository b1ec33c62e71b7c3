// `render --explain`: per SLO, the alert tiers kept and dropped (and why), the low-traffic guard,
// and how long a total breach takes to page. Plain text for people reviewing an SLA.
import { formatDuration, formatPercent, formatSeconds } from '../api/units.ts';
import type { CompiledSla } from './rules.ts';
import { PAGE_WITHIN, SUSTAINED_BURN, SUSTAINED_PAGE_WITHIN, type Tier } from './tiers.ts';

export function explain(name: string, compiled: CompiledSla): string {
  const lines: string[] = [];
  const win = formatDuration(compiled.window);
  if (!compiled.plans.length) return `${name}: no SLA, no SLO rules.\n`;
  lines.push(`${name}: SLA window ${win}; a total breach should page within ${formatSeconds(PAGE_WITHIN)}, a sustained ${SUSTAINED_BURN}x burn within ${formatSeconds(SUSTAINED_PAGE_WITHIN)}.`);
  for (const plan of compiled.plans) {
    const { slo } = plan;
    lines.push('', `${slo.name}: ${slo.description} (objective ${formatPercent(slo.objective)}, budget ${formatPercent(slo.budget)} over ${win})`);
    for (const t of plan.tiers) lines.push(`  kept     ${tierText(t)}`);
    for (const d of plan.dropped) {
      lines.push(`  dropped  ${d.spec.severity.padEnd(8)} ${windows(d.spec.long, d.spec.short)} ${`${d.spec.factor}x`.padEnd(6)} ${d.reason}`);
    }
    if (plan.sustainedReason) lines.push(`  sustained tier added: ${plan.sustainedReason}.`);
    if (plan.fastReason) lines.push(`  fast tier added: ${plan.fastReason}.`);
    lines.push(plan.timeToPage === undefined
      ? '  a total breach never pages.'
      : `  a total breach pages after ~${formatSeconds(plan.timeToPage)} (at least ${trafficNeeded(plan.tiers)} needed).`);
    lines.push(plan.timeToPageSustained === undefined
      ? `  a ${SUSTAINED_BURN}x burn never pages.`
      : `  a ${SUSTAINED_BURN}x burn (${formatPercent(Math.min(1, SUSTAINED_BURN * slo.budget), { significant: 4 })} bad) pages after ~${formatSeconds(plan.timeToPageSustained)}.`);
  }
  lines.push('', 'Times assume steady traffic before the breach; add up to one scrape and one rule evaluation.');
  return lines.join('\n') + '\n';
}

function windows(long: number, short: number): string {
  return `${formatDuration(long)}/${formatDuration(short)}`.padEnd(9);
}

function guardText(t: Tier): string {
  return t.minBad === undefined ? `>= ${t.minEvents} samples` : `>= ${t.minEvents} ev, ${t.minBad} bad`;
}

function tierText(t: Tier): string {
  return [
    t.severity.padEnd(8),
    windows(t.long, t.short),
    `${t.factor}x`.padEnd(6),
    `> ${formatPercent(t.threshold, { significant: 4 })} bad`.padEnd(14),
    `for ${formatDuration(t.for)}`.padEnd(7),
    `guard ${guardText(t)}`.padEnd(24),
    `${t.origin.padEnd(9)}; total breach fires after ~${formatSeconds(t.timeToFire)}`,
  ].join(' ');
}

/** The traffic the fastest page tier's guard needs, in the units people think in. */
function trafficNeeded(tiers: Tier[]): string {
  const page = tiers.filter((t) => t.severity === 'critical').sort((a, b) => a.timeToFire - b.timeToFire)[0]!;
  const perMinute = Math.max(page.minEvents, page.minBad ?? 0) / (page.long / 60);
  return `${Number(perMinute.toPrecision(2))} events/min over ${formatDuration(page.long)}`;
}
