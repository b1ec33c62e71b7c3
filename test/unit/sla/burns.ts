// The burn ladder: one QwenService whose four latency SLOs have the budgets 10%, 5%, 1% and 0.1%,
// hit by steady burns of 2x, 6x, 10x, 14.4x and a total breach from minute 120. Each SLO's
// critical alert must fire when the planner's formula says (timeToPageAt), so promtool checks the
// formula that `render --explain` and docs/sla.md print, for every budget at once.
import { parseQwenService } from '../../../src/api/validate.ts';
import type { QwenService } from '../../../src/api/qwenservice.ts';
import { compileSla } from '../../../src/sla/rules.ts';
import { timeToPageAt } from '../../../src/sla/tiers.ts';
import type { Checkpoint } from './scenarios.ts';
import type { Dist, Profile } from './series.ts';
import { LINKS } from './fixtures.ts';

export const BREACH_AT = 120;
const RPM = 120;

export const ladder = (): QwenService => parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1',
  kind: 'QwenService',
  metadata: { name: 'chat', namespace: 'team-a' },
  spec: { replicas: 2, sla: { latency: { p90: '1s', p95: '2s', p99: '5s', p999: '10s' } } },
});

/** Durations between the ladder's thresholds (1s, 2s, 5s, 10s): each is bad for the SLOs whose threshold it passes. */
const STEPS = [0.4, 1.5, 3, 6, 20];
const BUDGETS = [0.1, 0.05, 0.01, 0.001];

/** Requests per minute such that each SLO's bad share is min(1, burn x its budget). */
export function burnTraffic(burn: number): Dist {
  const bad = [1, ...BUDGETS.map((b) => Math.min(1, burn * b)), 0];
  return STEPS.map((v, i) => [v, RPM * (bad[i]! - bad[i + 1]!)] as [number, number]).filter(([, n]) => n > 0);
}

export type Burn = { name: string; burn: number; profile: Omit<Profile, 'namespace' | 'service'>; checkpoints: Checkpoint[] };

/** Before the breach every SLO burns at half its budget. */
const profile = (burn: number, minutes: number) => ({
  minutes, pods: 2, traffic: (m: number) => ({ latency: burnTraffic(m >= BREACH_AT ? burn : 0.5) }),
});

/** Slack of the measurement around the formula: one scrape, one evaluation, rate() extrapolation. */
export const EARLY = 2, LATE = 3;

function checkpoints(burn: number): Checkpoint[] {
  const out: Checkpoint[] = [{ at: BREACH_AT - 1, firing: [] }];
  for (const plan of compileSla(ladder(), LINKS).plans) {
    const only = `severity="critical", slo="${plan.slo.name}"`;
    const t = timeToPageAt(plan.tiers, plan.slo.budget, burn);
    if (t === undefined) {
      for (let at = BREACH_AT + 60; at <= profile(burn, 360).minutes; at += 60) out.push({ at, firing: [], only });
      continue;
    }
    const fires = BREACH_AT + t / 60;
    if (Math.floor(fires) - EARLY > BREACH_AT) out.push({ at: Math.floor(fires) - EARLY, firing: [], only });
    out.push({ at: Math.ceil(fires) + LATE, firing: [`critical/${plan.slo.name}`], only });
  }
  return out;
}

export const BURNS: Burn[] = [2, 6, 10, 14.4, Infinity].map((burn) => ({
  name: Number.isFinite(burn) ? `${burn}x` : 'total breach',
  burn,
  profile: profile(burn, Number.isFinite(burn) && burn < 5 ? 360 : BREACH_AT + 40),
  checkpoints: checkpoints(burn),
}));
