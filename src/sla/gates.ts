// The rollout gate of spec.rollout, as data: which SLOs judge a canary step, the bad-event share
// each may reach, the PromQL that measures the canary alone (its pods carry the pod-template hash
// Argo Rollouts gives them, relabelled onto the series by the ServiceMonitor), and the budget
// pre-check. Pure; src/render/rollout.ts turns it into Argo AnalysisTemplates and the Rollout.
import { DEFAULT_CANARY_STEPS, type QwenService, type Rollout } from '../api/qwenservice.ts';
import { formatDuration, formatPercent, parseDuration } from '../api/units.ts';
import { matcher, rawSli, RECORD, sloSelector, targetOf, type Target } from './sli.ts';
import type { Slo } from './slos.ts';
import { IGNORE_BUDGET_ANNOTATION } from '../conventions.ts';

export { IGNORE_BUDGET_ANNOTATION };

/** The series label the ServiceMonitor copies from the pods' rollouts-pod-template-hash label. */
export const POD_TEMPLATE_HASH_LABEL = 'rollouts_pod_template_hash';
/** The pod label Argo Rollouts sets on every pod of a Rollout's ReplicaSets. */
export const POD_TEMPLATE_HASH_POD_LABEL = 'rollouts-pod-template-hash';
/** The AnalysisTemplate argument that names the canary's pod-template hash. */
export const CANARY_HASH_ARG = 'canary-hash';
/** SLO kinds a canary can be judged on: availability needs a whole service down, not a slow canary. */
const GATING_KINDS = new Set<Slo['kind']>(['latency', 'ttft', 'tokens', 'errors']);

export type CanaryStep = { weight: number; /** seconds */ pause: number };

export type GateCheck = {
  slo: Slo;
  /** The canary's bad-event share over the window above which the step fails. */
  maxBadShare: number;
  /** PromQL: the canary's bad-event share over the window, empty while it has served fewer than minEvents. */
  query: (window: number) => string;
};

export type BudgetCheck = { slo: Slo; query: string };

export type GatePlan = {
  steps: CanaryStep[];
  checks: GateCheck[];
  minEvents: number;
  factor: number;
  /** Absent when spec.rollout.requireBudget is false or the override annotation is set. */
  budget?: BudgetCheck[];
  /** How often a step's gate measures, and how many empty (too few events) answers it waits through. */
  measure: (window: number) => { interval: number; inconclusiveLimit: number };
  /** SLO names in spec.rollout.gate.slos that spec.sla does not declare (reported, not gated). */
  unknownSlos: string[];
};

export function canarySteps(r: Rollout): CanaryStep[] {
  if (r.canary) return [{ weight: r.canary.weight, pause: parseDuration(r.canary.analysis) }];
  return (r.steps ?? DEFAULT_CANARY_STEPS).map((s) => ({ weight: s.weight, pause: parseDuration(s.pause) }));
}

/** Argo substitutes the canary's hash into the query of each AnalysisRun. */
const canaryOnly = matcher(POD_TEMPLATE_HASH_LABEL, '=', `{{args.${CANARY_HASH_ARG}}}`);

function gateCheck(t: Target, slo: Slo, factor: number, minEvents: number): GateCheck {
  return {
    slo,
    maxBadShare: Math.min(1, Number((slo.budget * factor).toPrecision(12))),
    query: (window) => {
      const sli = rawSli(t, slo, window, [canaryOnly]);
      // `and on ()`: no answer at all (Argo: Inconclusive) until the canary has served minEvents.
      return `(\n${sli.badRatio}\n)\nand on ()\n(${sli.events} >= ${minEvents})`;
    },
  };
}

/** The gate of a QwenService with spec.rollout (`slos`: its SLA's), or undefined without it. */
export function gatePlan(qs: QwenService, slos: Slo[]): GatePlan | undefined {
  const r = qs.spec.rollout;
  if (!r) return undefined;
  const t = targetOf(qs);
  const wanted = r.gate.slos;
  const gating = slos.filter((s) => (wanted ? wanted.includes(s.name) : GATING_KINDS.has(s.kind)));
  const ignoreBudget = (qs.metadata as { annotations?: Record<string, string> }).annotations?.[IGNORE_BUDGET_ANNOTATION] === 'true';
  return {
    steps: canarySteps(r),
    checks: gating.map((s) => gateCheck(t, s, r.gate.factor, r.gate.minEvents)),
    minEvents: r.gate.minEvents,
    factor: r.gate.factor,
    ...(r.requireBudget && !ignoreBudget ? { budget: slos.map((slo) => ({ slo, query: `${RECORD.budgetRemaining}${sloSelector(t, slo)}` })) } : {}),
    measure: (window) => {
      // Ten measurements per window (at least every 10 s, at most every minute); an empty answer
      // is waited through for one more window before Argo pauses the rollout for a human.
      const interval = Math.min(60, Math.max(10, Math.round(window / 10)));
      return { interval, inconclusiveLimit: Math.ceil(window / interval) };
    },
    unknownSlos: (wanted ?? []).filter((n) => !slos.some((s) => s.name === n)),
  };
}

/** The gate in words, for `render --explain`. */
export function explainGate(plan: GatePlan): string[] {
  const lines = ['Rollout gate (Argo Rollouts canary):'];
  if (plan.budget) lines.push(`  before any canary pod: waits while an SLO's error budget over the SLA window is spent (${plan.budget.map((b) => b.slo.name).join(', ') || 'no SLO'}); annotate ${IGNORE_BUDGET_ANNOTATION}="true" to skip`);
  else lines.push('  no budget pre-check (spec.rollout.requireBudget: false or the override annotation)');
  plan.steps.forEach((s, i) => {
    lines.push(`  step ${i + 1}: ${s.weight}% of the workers on the new version for ${formatDuration(s.pause)}, then judged on that window`);
  });
  lines.push('  then: every worker on the new version (promoted)');
  if (!plan.checks.length) lines.push('  no SLO gates the steps (spec.sla declares none of latency, TTFT, tokens/s, error rate)');
  for (const c of plan.checks) {
    lines.push(`  ${c.slo.name}: the canary fails a step if more than ${formatPercent(c.maxBadShare)} of its requests are bad (${plan.factor} x the ${formatPercent(c.slo.budget)} budget; ${c.slo.description})`);
  }
  lines.push(`  a verdict needs at least ${plan.minEvents} canary requests in the window; with fewer the step waits one more window, then pauses for a human`);
  lines.push('  a failed step aborts the rollout: every worker returns to the stable version');
  for (const n of plan.unknownSlos) lines.push(`  warning: spec.rollout.gate.slos names ${n}, which spec.sla does not declare`);
  return lines;
}
