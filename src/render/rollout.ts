// spec.rollout -> an Argo Rollouts canary gated on the QwenService's own SLOs. Pure.
//
// The Rollout references the worker Deployment (workloadRef): the Deployment stays the one pod
// template everything else renders and reads, Argo runs its ReplicaSets. Argo scales the
// Deployment to zero once the Rollout is healthy (scaleDown: onsuccess), and from then on the
// Rollout owns the worker count: the plan (src/plan/replicas.ts) says so, and the Deployment is
// rendered without spec.replicas (the reconciler's replicas hand-off keeps the count while Argo
// takes it over).
//
// Steps: [budget check] → for each canary step: setWeight w, pause for its window, then an
// analysis over that window: each gating SLO's bad-event share on the canary pods alone
// (Prometheus series labelled with the pods' rollouts-pod-template-hash). The measurement is
// Successful at or under the threshold, Failed above it (failureLimit 0: Argo aborts and returns
// every worker to the stable ReplicaSet), Inconclusive while the canary has served too few
// requests (empty answer): waited through for one more window, then Argo pauses for a human.
import type { QwenService } from '../api/qwenservice.ts';
import { LABEL_COMPONENT, ROLLOUT_COMPONENT, ROLLOUT_GATE_COMPONENT } from '../conventions.ts';
import { ANALYSIS_TEMPLATE, ROLLOUT } from '../plan/kinds.ts';
import { budgetTemplateName, gateTemplateName } from '../plan/names.ts';
import type { Plan } from '../plan/index.ts';
import { CANARY_HASH_ARG, type GatePlan } from '../sla/gates.ts';
import { childMeta, selectorLabels, type KubeObject } from './common.ts';

/** How often the budget pre-check asks, and how long it waits for the budget to come back (a day) before Argo pauses. */
const BUDGET_INTERVAL_S = 60;
const BUDGET_WAIT_MEASUREMENTS = 24 * 60;


const seconds = (s: number) => `${s}s`;

function gateTemplate(qs: QwenService, plan: GatePlan, window: number, prometheus: string): KubeObject {
  const { interval, inconclusiveLimit } = plan.measure(window);
  return {
    apiVersion: ANALYSIS_TEMPLATE.apiVersion,
    kind: ANALYSIS_TEMPLATE.kind,
    metadata: childMeta(qs, gateTemplateName(qs, window), { labels: { [LABEL_COMPONENT]: ROLLOUT_GATE_COMPONENT } }),
    spec: {
      args: [{ name: CANARY_HASH_ARG }],
      metrics: plan.checks.map((c) => ({
        name: c.slo.name,
        interval: seconds(interval),
        // Done at the first measurement that passes; one failure fails the step. Argo wants a
        // step's analysis bounded: past the last count without a verdict it is Inconclusive.
        count: inconclusiveLimit + 1,
        consecutiveSuccessLimit: 1,
        failureLimit: 0,
        inconclusiveLimit,
        successCondition: `len(result) > 0 && result[0] <= ${c.maxBadShare}`,
        failureCondition: `len(result) > 0 && result[0] > ${c.maxBadShare}`,
        provider: { prometheus: { address: prometheus, query: c.query(window) } },
      })),
    },
  };
}

function budgetTemplate(qs: QwenService, plan: GatePlan, prometheus: string): KubeObject {
  return {
    apiVersion: ANALYSIS_TEMPLATE.apiVersion,
    kind: ANALYSIS_TEMPLATE.kind,
    metadata: childMeta(qs, budgetTemplateName(qs), { labels: { [LABEL_COMPONENT]: ROLLOUT_GATE_COMPONENT } }),
    spec: {
      metrics: (plan.budget ?? []).map((b) => ({
        name: b.slo.name,
        interval: seconds(BUDGET_INTERVAL_S),
        count: BUDGET_WAIT_MEASUREMENTS + 1,
        consecutiveSuccessLimit: 1,
        failureLimit: 0,
        inconclusiveLimit: BUDGET_WAIT_MEASUREMENTS,
        // No recorded budget yet (a new service) lets the change through; a spent one waits
        // (Inconclusive: neither condition holds), it never fails the rollout.
        successCondition: 'len(result) == 0 || result[0] > 0',
        failureCondition: 'false',
        provider: { prometheus: { address: prometheus, query: b.query } },
      })),
    },
  };
}

function steps(qs: QwenService, plan: GatePlan): unknown[] {
  const out: unknown[] = [];
  if (plan.budget?.length) out.push({ analysis: { templates: [{ templateName: budgetTemplateName(qs) }] } });
  for (const s of plan.steps) {
    out.push({ setWeight: s.weight }, { pause: { duration: seconds(s.pause) } });
    if (plan.checks.length) {
      out.push({ analysis: { templates: [{ templateName: gateTemplateName(qs, s.pause) }], args: [{ name: CANARY_HASH_ARG, valueFrom: { podTemplateHashValue: 'Latest' } }] } });
    }
  }
  return out;
}

/** The Rollout and its AnalysisTemplates; none without spec.rollout or without a Prometheus address. */
export function renderRollout(p: Plan): KubeObject[] {
  const { qs, config, gate: plan } = p;
  if (!plan || p.objects.rollout === 'absent') return [];
  const windows = [...new Set(plan.steps.map((s) => s.pause))];
  // Present only with a Prometheus address (the plan's 'absent' otherwise).
  const prometheus = config.prometheusURL!;
  const templates = plan.checks.length ? windows.map((w) => gateTemplate(qs, plan, w, prometheus)) : [];
  if (plan.budget?.length) templates.push(budgetTemplate(qs, plan, prometheus));
  const rollout: KubeObject = {
    apiVersion: ROLLOUT.apiVersion,
    kind: ROLLOUT.kind,
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: ROLLOUT_COMPONENT } }),
    spec: {
      // Absent when KEDA's HPA sets the count through the Rollout's scale subresource.
      ...(p.replicas.rolloutReplicas !== undefined ? { replicas: p.replicas.rolloutReplicas } : {}),
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels(qs) },
      workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: qs.metadata.name, scaleDown: 'onsuccess' },
      strategy: { canary: { steps: steps(qs, plan) } },
    },
  };
  return [rollout, ...templates];
}
