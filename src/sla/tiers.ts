// Which burn-rate alerts each SLO gets: the SRE workbook's multiwindow multi-burn-rate table, the
// tiers that can never fire dropped, a low-traffic guard per tier, and (our addition) a fast page
// tier for SLOs whose budget is so large that the workbook's table pages a total breach late.
// The reasoning is in docs/sla.md; `render --explain` prints the result. Pure.
import type { Slo } from './slos.ts';

export type Severity = 'critical' | 'warning';

export type TierSpec = {
  severity: Severity;
  /** Burn rate: 1 spends the whole budget in exactly the SLA window. */
  factor: number;
  /** Long and short windows, seconds. */
  long: number;
  short: number;
  /** The alert's `for`, seconds. */
  for: number;
  origin: 'workbook' | 'fast';
};

export type Tier = TierSpec & {
  /** factor x budget: the bad share both windows must exceed. */
  threshold: number;
  /** Low-traffic guard: events (requests; samples for availability) the long window must hold. */
  minEvents: number;
  /** Low-traffic guard: bad events the long window must hold (event-based SLOs only). */
  minBad?: number;
  /** Seconds from the start of a total breach (every event bad) until the alert fires. */
  timeToFire: number;
};

export type DroppedTier = { spec: TierSpec; reason: string };

export type SloPlan = {
  slo: Slo;
  tiers: Tier[];
  dropped: DroppedTier[];
  /** Seconds a total breach takes to page (fastest critical tier); undefined when nothing pages. */
  timeToPage?: number;
  /** Why a fast tier was added, when it was. */
  fastReason?: string;
};

const M = 60, H = 3600, D = 86400;

/** The workbook's table (Site Reliability Workbook, ch. 5), tuned there for a 99.9% SLO over 30d. */
export const WORKBOOK_TIERS: readonly TierSpec[] = [
  { severity: 'critical', factor: 14.4, long: 1 * H, short: 5 * M, for: 2 * M, origin: 'workbook' },
  { severity: 'critical', factor: 6, long: 6 * H, short: 30 * M, for: 15 * M, origin: 'workbook' },
  { severity: 'warning', factor: 3, long: 1 * D, short: 2 * H, for: 1 * H, origin: 'workbook' },
  { severity: 'warning', factor: 1, long: 3 * D, short: 6 * H, for: 3 * H, origin: 'workbook' },
];

/** Promise: a total breach of any SLO pages within this. */
export const PAGE_WITHIN = 10 * M;
/** Slack kept inside PAGE_WITHIN for one scrape, one rule evaluation and rate() extrapolation. */
export const PAGE_SLACK = 1 * M;
/** Long windows the fast tier may use, largest (most budget-significant) first. */
export const FAST_LONG_WINDOWS = [30 * M, 15 * M, 10 * M, 5 * M] as const;
export const FAST_FOR = 2 * M;
/** No alert rests on fewer events than this in the long window ("a handful of requests"). */
export const MIN_EVENTS_FLOOR = 20;
/** Chance that a service that is fine reads a tier's burn in one long window by luck. */
export const FALSE_ALARM_PROBABILITY = 0.001;
/** Availability is time-based: its guard only asks for a few samples of history. */
export const MIN_AVAILABILITY_SAMPLES = 5;

export type PlanOptions = {
  /** Scrape interval in seconds: the short window holds at least four scrapes. */
  scrapeInterval: number;
};

export function planSlo(slo: Slo, opts: PlanOptions = { scrapeInterval: 15 }): SloPlan {
  const tiers: Tier[] = [];
  const dropped: DroppedTier[] = [];
  for (const spec of WORKBOOK_TIERS) {
    const threshold = spec.factor * slo.budget;
    if (threshold >= 1) {
      dropped.push({ spec, reason: `${spec.factor}x burn of a ${pctText(slo.budget)} budget needs ${pctText(threshold)} bad: can never fire` });
    } else {
      tiers.push(tier(slo, spec));
    }
  }
  const plan: SloPlan = { slo, tiers, dropped };
  const workbookPage = fastestPage(tiers);
  if (workbookPage === undefined || workbookPage > PAGE_WITHIN) {
    const fast = fastTier(slo, opts);
    tiers.unshift(fast);
    plan.fastReason = workbookPage === undefined
      ? 'no workbook page tier can fire for this budget'
      : `the workbook's fastest page needs ${formatSeconds(workbookPage)} of total breach`;
  }
  const ttp = fastestPage(tiers);
  if (ttp !== undefined) plan.timeToPage = ttp;
  return plan;
}

/**
 * The fast page tier: the bad share it asks for is the workbook's 14.4x, capped halfway between the
 * budget and a total breach (so it needs a majority of the headroom gone, never "slightly over
 * budget"), and its long window is the largest that still lets a total breach page within
 * PAGE_WITHIN. The budget decides the window; the guard keeps low traffic from paging.
 */
export function fastTier(slo: Slo, opts: PlanOptions): Tier {
  const threshold = Math.min(14.4 * slo.budget, (1 + slo.budget) / 2);
  const room = PAGE_WITHIN - FAST_FOR - PAGE_SLACK;
  const long = FAST_LONG_WINDOWS.find((w) => threshold * w <= room) ?? FAST_LONG_WINDOWS[FAST_LONG_WINDOWS.length - 1]!;
  const short = Math.ceil(Math.max(long / 12, 4 * opts.scrapeInterval) / M) * M;
  const factor = Number((threshold / slo.budget).toPrecision(6));
  return tier(slo, { severity: 'critical', factor, long, short, for: FAST_FOR, origin: 'fast' });
}

function tier(slo: Slo, spec: TierSpec): Tier {
  const threshold = Number((spec.factor * slo.budget).toPrecision(12));
  const t: Tier = { ...spec, threshold, minEvents: slo.kind === 'availability' ? MIN_AVAILABILITY_SAMPLES : MIN_EVENTS_FLOOR, timeToFire: threshold * spec.long + spec.for };
  if (slo.kind !== 'availability') t.minBad = minBadEvents(slo, threshold);
  return t;
}

function fastestPage(tiers: Tier[]): number | undefined {
  const pages = tiers.filter((t) => t.severity === 'critical').map((t) => t.timeToFire);
  return pages.length ? Math.min(...pages) : undefined;
}

/**
 * The low-traffic guard on bad events. A healthy service (each event bad with probability p0) that
 * has n events reads a bad share >= threshold with probability at most exp(-n KL(threshold||p0))
 * (Chernoff). Asking for k bad events as well as the share makes n >= k/threshold, so
 * k = threshold ln(1/FALSE_ALARM_PROBABILITY) / KL keeps that chance below
 * FALSE_ALARM_PROBABILITY at any traffic, while a total breach (every event bad) still passes it
 * after k events: low traffic pages on a real outage, never on a couple of unlucky requests.
 * Healthy means burning at most the budget (p0 = budget); for the 1x tier, whose threshold is the
 * budget itself, half of it (p0 = threshold/2).
 */
export function minBadEvents(slo: Slo, threshold: number): number {
  const p0 = Math.min(slo.budget, threshold / 2);
  return Math.max(1, Math.ceil(threshold * Math.log(1 / FALSE_ALARM_PROBABILITY) / klBernoulli(threshold, p0) - 1e-9));
}

/** Kullback-Leibler divergence of Bernoulli(q) from Bernoulli(p). */
export function klBernoulli(q: number, p: number): number {
  const term = (a: number, b: number) => (a === 0 ? 0 : a * Math.log(a / b));
  return term(q, p) + term(1 - q, 1 - p);
}

export function pctText(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(4))}%`;
}

/** 7m15s, 45m, 1h48m, 3d: a human duration for explain output and annotations. */
export function formatSeconds(s: number): string {
  let rest = Math.round(s);
  const parts: string[] = [];
  for (const [unit, size] of [['d', D], ['h', H], ['m', M], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}
