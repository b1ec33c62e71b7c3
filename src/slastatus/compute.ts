// Pure: measurements -> status.sla and the SLACompliant condition. Every number is rounded to a
// display step here, so comparing the result with what the object holds is what decides whether
// to write: a status that only moved within a step is not written again (no churn).
import type { Condition, QwenService, QwenServiceStatus } from '../api/qwenservice.ts';
import { formatMeasuredSeconds, formatPercent } from '../api/units.ts';
import { BUDGET_BURN_ALERT, ConditionType, Reason } from '../conventions.ts';
import { DEFAULT_SLA_WINDOW, type Slo } from '../sla/slos.ts';

export type Measurement = {
  slo: Slo;
  /** Over the SLA window. undefined = no data. */
  badRatio?: number;
  events?: number;
  display?: number;
  /** Over the last hour. */
  badRatio1h?: number;
  events1h?: number;
  display1h?: number;
};

export type FiringAlert = { slo: string; severity: string };

export type SlaReading =
  | { reachable: true; measurements: Measurement[]; firing: FiringAlert[]; p95?: number }
  | { reachable: false; error: string };

export type SlaStatus = NonNullable<QwenServiceStatus['sla']>;
export type SlaResult = { sla: SlaStatus; condition: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'> };

/** Decimals of a percentage that resolve a tenth of the error budget (95% -> 1, 99.9% -> 3). */
function decimalsFor(objective: number): number {
  const budget = 1 - objective;
  return budget > 0 ? Math.min(4, Math.max(0, Math.ceil(-Math.log10(budget)) - 1)) : 1;
}

/** Burn rate: one decimal below 10 (0.2, 1.4), whole numbers above (14, 120). */
function formatBurn(b: number): string {
  if (!Number.isFinite(b)) return 'n/a';
  return b < 10 ? String(Number(b.toFixed(1))) : String(Math.round(b));
}

function displayOf(slo: Slo, v: number | undefined, bad: number | undefined): string | undefined {
  if (slo.kind === 'latency' || slo.kind === 'ttft') return v === undefined ? undefined : `p${Math.round(slo.objective * 1000) / 10} ${formatMeasuredSeconds(v)}`;
  if (slo.kind === 'tokens') return v === undefined || !Number.isFinite(v) ? undefined : `${Number(v.toPrecision(2))} tokens/s`;
  if (bad === undefined) return undefined;
  // errors: the error ratio; availability: the share of time up.
  return slo.kind === 'errors' ? `${formatPercent(bad, { decimals: decimalsFor(slo.objective) })} errors` : `${formatPercent(1 - bad, { decimals: decimalsFor(slo.objective) })} up`;
}

/** Budget left over the window in percent (negative once overspent) and the 1h burn rate. */
export function budgetOf(slo: Slo, badWindow: number | undefined, bad1h: number | undefined): { remaining?: number; burn?: number } {
  const budget = 1 - slo.objective;
  return {
    ...(badWindow !== undefined ? { remaining: (1 - badWindow / budget) * 100 } : {}),
    ...(bad1h !== undefined ? { burn: bad1h / budget } : {}),
  };
}

const hasData = (m: Measurement) => m.badRatio !== undefined && (m.events ?? 0) > 0;

/** No request reached the service over the window (targets being up is not traffic). */
function noTraffic(ms: Measurement[]): boolean {
  const requestBased = ms.filter((m) => m.slo.kind !== 'availability');
  return !(requestBased.length ? requestBased : ms).some(hasData);
}

export function computeSla(qs: QwenService, reading: SlaReading, previous: SlaStatus | undefined): SlaResult {
  const window = qs.spec.sla?.window ?? DEFAULT_SLA_WINDOW;
  if (!reading.reachable) {
    // Keep the last measured values (they are still the best we know) and say why they are stale.
    return {
      sla: { ...(previous ?? {}), summary: 'PrometheusUnreachable: values are from the last successful read' },
      condition: { type: ConditionType.SLACompliant, status: 'Unknown', reason: Reason.PrometheusUnreachable, message: `cannot read the SLA from Prometheus: ${reading.error}`.slice(0, 1000) },
    };
  }
  const objectives: NonNullable<SlaStatus['objectives']> = [];
  const missed: string[] = [];
  let lowest: { slo: string; remaining: number } | undefined;
  for (const m of reading.measurements) {
    const { remaining, burn } = budgetOf(m.slo, hasData(m) ? m.badRatio : undefined, (m.events1h ?? 0) > 0 ? m.badRatio1h : undefined);
    const measured = hasData(m) ? displayOf(m.slo, m.display, m.badRatio) : undefined;
    const measured1h = (m.events1h ?? 0) > 0 ? displayOf(m.slo, m.display1h, m.badRatio1h) : undefined;
    const remainingText = remaining === undefined ? undefined : `${Math.round(Math.max(-999, remaining))}%`;
    objectives.push({
      slo: m.slo.name,
      objective: m.slo.description,
      ...(measured ? { measured } : {}),
      ...(measured1h ? { measured1h } : {}),
      ...(remainingText ? { budgetRemaining: remainingText } : {}),
      ...(burn !== undefined ? { burnRate: formatBurn(burn) } : {}),
    });
    if (remaining !== undefined) {
      const good = formatPercent(1 - m.badRatio!, { decimals: decimalsFor(m.slo.objective) });
      if (remaining <= 0) missed.push(`${m.slo.name}: ${good} good over ${window} (objective ${m.slo.description}${measured ? `, measured ${measured}` : ''}), budget ${remainingText}`);
      // Compared at display precision: a tie must not flip between SLOs from one read to the next.
      const rounded = Math.round(remaining);
      if (!lowest || rounded < lowest.remaining) lowest = { slo: m.slo.name, remaining: rounded };
    }
  }
  const sla: SlaStatus = { ...(reading.p95 !== undefined && Number.isFinite(reading.p95) ? { p95: formatMeasuredSeconds(reading.p95) } : {}), objectives };
  const withData = reading.measurements.filter(hasData);
  let condition: SlaResult['condition'];
  if (reading.firing.length) {
    const bySlo = new Map<string, string>();
    for (const a of reading.firing) if (bySlo.get(a.slo) !== 'critical') bySlo.set(a.slo, a.severity);
    const parts = [...bySlo].sort().map(([slo, severity]) => {
      const o = objectives.find((x) => x.slo === slo);
      return `${slo} (${severity}${o?.burnRate ? `, burn rate ${o.burnRate}x` : ''}${o?.budgetRemaining ? `, budget left ${o.budgetRemaining}` : ''}${o?.measured1h ? `, last hour ${o.measured1h}` : ''}; objective ${o?.objective ?? '?'})`;
    });
    condition = { type: ConditionType.SLACompliant, status: 'False', reason: Reason.BudgetBurning, message: `${BUDGET_BURN_ALERT} firing for ${parts.join('; ')}` };
  } else if (missed.length) {
    condition = { type: ConditionType.SLACompliant, status: 'False', reason: Reason.ObjectiveMissed, message: missed.join('; ') };
  } else if (noTraffic(reading.measurements)) {
    condition = { type: ConditionType.SLACompliant, status: 'Unknown', reason: Reason.NoTraffic, message: `no requests (or no scraped targets) over ${window} to measure the SLA on` };
  } else {
    const noData = reading.measurements.filter((m) => !hasData(m)).map((m) => m.slo.name);
    condition = {
      type: ConditionType.SLACompliant, status: 'True', reason: Reason.WithinBudget,
      message: `${withData.length}/${reading.measurements.length} objectives measured and met over ${window}${lowest ? `; least budget left: ${lowest.slo} ${Math.round(lowest.remaining)}%` : ''}${noData.length ? `; no data yet: ${noData.join(', ')}` : ''}`,
    };
  }
  sla.summary = `${condition.reason}: ${objectives.filter((o) => o.budgetRemaining !== undefined && !o.budgetRemaining.startsWith('-') && o.budgetRemaining !== '0%').length}/${objectives.length} objectives within budget`;
  return { sla, condition };
}
