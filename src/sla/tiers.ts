// Which burn-rate alerts each SLO gets: the SRE workbook's multiwindow multi-burn-rate table, the
// tiers that can never fire dropped, a low-traffic guard per tier, and (our addition) a fast page
// tier for SLOs whose budget is so large that the workbook's table pages a total breach late, and a
// sustained-burn page tier for partial breaches (a 10x burn) that the workbook pages only after hours.
// The reasoning is in docs/sla.md; `render --explain` prints the result. Pure.
import { formatPercent, formatSeconds } from '../api/units.ts';
import type { Severity } from '../conventions.ts';
import type { Slo } from './slos.ts';

export type TierSpec = {
  severity: Severity;
  /** Burn rate: 1 spends the whole budget in exactly the SLA window. */
  factor: number;
  /** Long and short windows, seconds. */
  long: number;
  short: number;
  /** The alert's `for`, seconds. */
  for: number;
  /** The alert's `keep_firing_for`, seconds: rides out the good spells of a breach that comes and goes. */
  keepFiringFor?: number;
  origin: 'workbook' | 'fast' | 'sustained';
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
  /** Seconds a sustained SUSTAINED_BURN-times burn takes to page; undefined when nothing pages it. */
  timeToPageSustained?: number;
  /** Why a fast tier was added, when it was. */
  fastReason?: string;
  /** Why a sustained-burn tier was added, when it was. */
  sustainedReason?: string;
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
/** Promise: a burn of at least SUSTAINED_BURN x, held steadily, pages within SUSTAINED_PAGE_WITHIN. */
export const SUSTAINED_BURN = 10;
export const SUSTAINED_PAGE_WITHIN = 30 * M;
/**
 * The sustained-burn tier: any burn above 7x, once its 30m window has seen enough of it. 7x leaves
 * 2x-6x burns to the tickets and the 6h page, and is more than one restart of every worker (a
 * minute without `up`: 1/30 of the window = 6.7x an availability budget of 0.5%) can reach, while
 * a 10x burn pages after 30m x 7/10 + for = 23m, inside the promise. Its short window is the
 * workbook 1h tier's 5m (not long/12) so that a breach that comes and goes is judged by its
 * average: a 3m window empties during each good spell and `for` would start again every time;
 * `keep_firing_for` (the short window again) keeps the page open through the good spells instead
 * of resolving and paging anew every ten minutes.
 */
export const SUSTAINED_TIER = { factor: 7, long: 30 * M, short: 5 * M, for: 2 * M, keepFiringFor: 5 * M } as const;
/** Availability is time-based: its guard only asks for a few samples of history. */
export const MIN_AVAILABILITY_SAMPLES = 5;

export type PlanOptions = {
  /** Scrape interval in seconds: the short window holds at least four scrapes. */
  scrapeInterval: number;
};

export function planSlo(slo: Slo, opts: PlanOptions = { scrapeInterval: 15 }): SloPlan {
  const { tiers, dropped } = workbookTiers(slo);
  const plan: SloPlan = { slo, tiers, dropped };
  // Sustained tier first: it may page a total breach fast enough that no fast tier is needed.
  const workbookSustained = timeToPageAt(tiers, slo.budget, SUSTAINED_BURN);
  if (workbookSustained === undefined || workbookSustained > SUSTAINED_PAGE_WITHIN - PAGE_SLACK) {
    const sustained = sustainedTier(slo, opts);
    if (sustained.threshold < 1) {
      tiers.unshift(sustained);
      plan.sustainedReason = workbookSustained === undefined
        ? `no workbook page tier fires on a ${SUSTAINED_BURN}x burn`
        : `the workbook pages a ${SUSTAINED_BURN}x burn after ${formatSeconds(workbookSustained)}`;
    }
  }
  const workbookPage = fastestPage(tiers);
  if (workbookPage === undefined || workbookPage > PAGE_WITHIN - PAGE_SLACK) {
    const fast = fastTier(slo, opts);
    tiers.unshift(fast);
    plan.fastReason = workbookPage === undefined
      ? 'no other page tier can fire for this budget'
      : `the other page tiers need ${formatSeconds(workbookPage)} of total breach`;
  }
  const ttp = fastestPage(tiers);
  if (ttp !== undefined) plan.timeToPage = ttp;
  const sustained = timeToPageAt(tiers, slo.budget, SUSTAINED_BURN);
  if (sustained !== undefined) plan.timeToPageSustained = sustained;
  return plan;
}

/** The workbook's table for this SLO, without the tiers that can never fire. */
export function workbookTiers(slo: Slo): { tiers: Tier[]; dropped: DroppedTier[] } {
  const tiers: Tier[] = [];
  const dropped: DroppedTier[] = [];
  for (const spec of WORKBOOK_TIERS) {
    const threshold = spec.factor * slo.budget;
    if (threshold >= 1) {
      dropped.push({ spec, reason: `${spec.factor}x burn of a ${formatPercent(slo.budget, { significant: 4 })} budget needs ${formatPercent(threshold, { significant: 4 })} bad: can never fire` });
    } else {
      tiers.push(tier(slo, spec));
    }
  }
  return { tiers, dropped };
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
  const factor = Number((threshold / slo.budget).toPrecision(6));
  return tier(slo, { severity: 'critical', factor, long, short: shortWindow(long / 12, opts), for: FAST_FOR, origin: 'fast' });
}

/** The sustained-burn page tier (SUSTAINED_TIER), its short window held to at least four scrapes. */
export function sustainedTier(slo: Slo, opts: PlanOptions): Tier {
  const { factor, long, short, keepFiringFor } = SUSTAINED_TIER;
  return tier(slo, { severity: 'critical', factor, long, short: shortWindow(short, opts), for: SUSTAINED_TIER.for, keepFiringFor, origin: 'sustained' });
}

/** A short window of at least `want` seconds and four scrapes, in whole minutes. */
function shortWindow(want: number, opts: PlanOptions): number {
  return Math.ceil(Math.max(want, 4 * opts.scrapeInterval) / M) * M;
}

/**
 * Seconds until a tier fires on a steady burn starting after a healthy stretch: the long window's
 * bad share grows as share x t / long and must pass the threshold (the short window, shorter, is
 * over it sooner), then `for`. Undefined when the burn never lifts the share above the threshold.
 * A burn of 1/budget or more is a total breach (share 1).
 */
export function timeToFireAt(t: Tier, budget: number, burn: number): number | undefined {
  // Rounded as thresholds are, so that 6 x 0.05 meets a 0.3 threshold exactly instead of above it.
  const share = Number(Math.min(1, burn * budget).toPrecision(12));
  if (share <= t.threshold) return undefined;
  return (t.threshold / share) * t.long + t.for;
}

/** Seconds until the fastest critical tier pages a steady `burn`; undefined when none does. */
export function timeToPageAt(tiers: Tier[], budget: number, burn: number): number | undefined {
  const times = tiers.filter((t) => t.severity === 'critical').map((t) => timeToFireAt(t, budget, burn)).filter((x): x is number => x !== undefined);
  return times.length ? Math.min(...times) : undefined;
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
