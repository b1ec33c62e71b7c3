// spec.rollout -> Argo Rollout + AnalysisTemplates, and what a rollout changes in the other
// objects (Deployment count, ServiceMonitor pod-template hash, ScaledObject target). Pure. (The
// gate queries evaluated by promtool: test/with-tools/rollout/gates.test.ts.)
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { checkQwenService, parseQwenService } from '../../../src/api/validate.ts';
import type { QwenServiceInput } from '../../../src/api/qwenservice.ts';
import { defaultRenderConfig, type KubeObject } from '../../../src/render/common.ts';
import { renderAll } from '../../../src/render/index.ts';
import { renderRollout } from '../../../src/render/rollout.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { MONITORING_KINDS, SCALED_OBJECT_KEY } from '../../../src/plan/kinds.ts';
import { kindKey } from '../../../src/kube/object.ts';
import { IGNORE_BUDGET_ANNOTATION, explainGate } from '../../../src/sla/gates.ts';

const PROM = 'http://prometheus.monitoring.svc:9090';
const config = { ...defaultRenderConfig, prometheusURL: PROM };

type Metric = { name: string; interval: string; failureLimit: number; inconclusiveLimit: number; consecutiveSuccessLimit: number; successCondition: string; failureCondition: string; provider: { prometheus: { address: string; query: string } } };
type Template = KubeObject & { spec: { args?: { name: string }[]; metrics: Metric[] } };
type RolloutSpec = { replicas?: number; selector: unknown; workloadRef: Record<string, string>; strategy: { canary: { steps: Record<string, unknown>[] } } };

const example = () => {
  const qs = parseQwenService(load(readFileSync('manifests/examples/canary.yaml', 'utf8')));
  (qs.metadata as Record<string, unknown>).uid = 'uid-c';
  return qs;
};
const qws = (spec: QwenServiceInput['spec'], annotations?: Record<string, string>) =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', uid: 'uid-1', ...(annotations ? { annotations } : {}) }, spec });
const sla = { latency: { p95: '3s' }, errorRate: '1%', availability: '99.9%' };
const rolloutOf = (objs: KubeObject[]) => objs.find((o) => o.kind === 'Rollout')!;
const templates = (objs: KubeObject[]) => objs.filter((o) => o.kind === 'AnalysisTemplate') as Template[];
const stepsOf = (objs: KubeObject[]) => (rolloutOf(objs).spec as RolloutSpec).strategy.canary.steps;

describe('the canary example', () => {
  const qs = example();
  const objs = renderRollout(resolvePlan(qs, config));

  it('renders a Rollout that runs the worker Deployment\'s pod template, owned by the QwenService', () => {
    const r = rolloutOf(objs);
    expect(r.metadata).toMatchObject({ name: 'chat-canary', namespace: 'team-a', ownerReferences: [{ kind: 'QwenService', uid: 'uid-c', controller: true }] });
    const spec = r.spec as RolloutSpec;
    expect(spec.workloadRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat-canary', scaleDown: 'onsuccess' });
    expect(spec.replicas).toBe(4);
    expect(spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'chat-canary' } });
  });

  it('checks the budget first, then per step: weight, pause for the window, analysis of the canary over it', () => {
    const gate = { analysis: { templates: [{ templateName: 'chat-canary-slo-gate-10m' }], args: [{ name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } }] } };
    expect(stepsOf(objs)).toEqual([
      { analysis: { templates: [{ templateName: 'chat-canary-error-budget' }] } },
      { setWeight: 25 }, { pause: { duration: '600s' } }, gate,
      { setWeight: 50 }, { pause: { duration: '600s' } }, gate,
    ]);
  });

  it('gate template: one metric per gating SLO against the operator\'s Prometheus, threshold = factor x budget, one failure aborts', () => {
    const gate = templates(objs).find((t) => t.metadata.name === 'chat-canary-slo-gate-10m')!;
    expect(gate.spec.args).toEqual([{ name: 'canary-hash' }]);
    const byName = Object.fromEntries(gate.spec.metrics.map((m) => [m.name, m]));
    expect(Object.keys(byName).sort()).toEqual(['error-rate', 'latency-p95', 'output-tokens-per-second', 'ttft-p95']);
    const p95 = byName['latency-p95']!;
    expect(p95).toMatchObject({ interval: '60s', count: 11, failureLimit: 0, consecutiveSuccessLimit: 1, inconclusiveLimit: 10, successCondition: 'len(result) > 0 && result[0] <= 0.3', failureCondition: 'len(result) > 0 && result[0] > 0.3' });
    expect(p95.provider.prometheus.address).toBe(PROM);
    expect(p95.provider.prometheus.query).toContain('rollouts_pod_template_hash="{{args.canary-hash}}"');
    expect(p95.provider.prometheus.query).toContain('[10m]');
    expect(p95.provider.prometheus.query).toMatch(/>= 20\)$/);
    expect(byName['error-rate']!.successCondition).toBe('len(result) > 0 && result[0] <= 0.06');
  });

  it('budget template: every SLO\'s recorded remaining budget; a spent one waits (never fails), none recorded passes', () => {
    const budget = templates(objs).find((t) => t.metadata.name === 'chat-canary-error-budget')!;
    expect(budget.spec.metrics.map((m) => m.name).sort()).toEqual(['availability', 'error-rate', 'latency-p95', 'output-tokens-per-second', 'ttft-p95']);
    const m = budget.spec.metrics[0]!;
    expect(m.provider.prometheus.query).toBe(`qwen_slo:error_budget_remaining:ratio{namespace="team-a",service="chat-canary",slo="${m.name}"}`);
    expect(m).toMatchObject({ successCondition: 'len(result) == 0 || result[0] > 0', failureCondition: 'false', failureLimit: 0 });
    expect(m.inconclusiveLimit).toBeGreaterThanOrEqual(60);
  });

  it('under the Rollout: Deployment without a count, ServiceMonitor copies the pod-template hash', () => {
    const objects = renderAll(qs, config);
    const dep = objects.find((o) => o.kind === 'Deployment')!;
    expect(dep.spec).not.toHaveProperty('replicas');
    expect(dep.metadata.annotations?.['qwenops.io/replicas-from']).toBe('rollout');
    expect((objects.find((o) => o.kind === 'ServiceMonitor')!.spec as { podTargetLabels: string[] }).podTargetLabels).toEqual(['rollouts-pod-template-hash']);
    // Argo missing (no Rollout applied): the plain Deployment, untouched.
    const plain = renderAll(qs, config, { servedMonitoringKinds: new Set([...MONITORING_KINDS.map(kindKey), SCALED_OBJECT_KEY]) });
    expect(plain.find((o) => o.kind === 'ServiceMonitor')!.spec).not.toHaveProperty('podTargetLabels');
    expect((plain.find((o) => o.kind === 'Deployment')!.spec as { replicas: number }).replicas).toBe(4);
  });

  it('explains the gate in words', () => {
    const text = explainGate(resolvePlan(qs, config).gate!).join('\n');
    expect(text).toContain('step 1: 25% of the workers on the new version for 10m');
    expect(text).toContain('latency-p95: the canary fails a step if more than 30% of its requests are bad (6 x the 5% budget');
    expect(text).toContain('at least 20 canary requests');
    expect(text).toContain(IGNORE_BUDGET_ANNOTATION);
  });
});

describe('spec.rollout variants', () => {
  it('nothing without spec.rollout or without a Prometheus address', () => {
    expect(renderRollout(resolvePlan(qws({ sla }), config))).toEqual([]);
    expect(renderRollout(resolvePlan(qws({ sla, rollout: {} }), defaultRenderConfig))).toEqual([]);
  });

  it('short form canary: one step observed for its analysis window; defaults: 25%/10m, 50%/10m', () => {
    expect(stepsOf(renderRollout(resolvePlan(qws({ sla, rollout: { canary: { weight: 10, analysis: '2m' } } }), config))).filter((s) => 'setWeight' in s || 'pause' in s))
      .toEqual([{ setWeight: 10 }, { pause: { duration: '120s' } }]);
    expect(stepsOf(renderRollout(resolvePlan(qws({ sla, rollout: {} }), config))).filter((s) => 'setWeight' in s)).toEqual([{ setWeight: 25 }, { setWeight: 50 }]);
  });

  it('one gate template per distinct window', () => {
    const objs = renderRollout(resolvePlan(qws({ sla, rollout: { steps: [{ weight: 10, pause: '1m' }, { weight: 50, pause: '5m' }, { weight: 80, pause: '5m' }] } }), config));
    expect(templates(objs).map((t) => t.metadata.name).sort()).toEqual(['chat-error-budget', 'chat-slo-gate-1m', 'chat-slo-gate-5m']);
    // 1m window: measured every 10s (the floor), waited through for one more window.
    expect(templates(objs).find((t) => t.metadata.name === 'chat-slo-gate-1m')!.spec.metrics[0]).toMatchObject({ interval: '10s', inconclusiveLimit: 6 });
  });

  it('requireBudget: false, or the override annotation: no budget step', () => {
    for (const qs of [qws({ sla, rollout: { requireBudget: false } }), qws({ sla, rollout: {} }, { [IGNORE_BUDGET_ANNOTATION]: 'true' })]) {
      const objs = renderRollout(resolvePlan(qs, config));
      expect(stepsOf(objs)[0]).toEqual({ setWeight: 25 });
      expect(templates(objs).map((t) => t.metadata.name)).toEqual(['chat-slo-gate-10m']);
    }
  });

  it('gate.slos picks the gating SLOs; gate.factor the threshold; an unknown name is reported', () => {
    const qs = qws({ sla, rollout: { gate: { slos: ['error-rate', 'ttft-p99'], factor: 2 } } });
    const plan = resolvePlan(qs, config).gate!;
    expect(plan.checks.map((c) => [c.slo.name, c.maxBadShare])).toEqual([['error-rate', 0.02]]);
    expect(plan.unknownSlos).toEqual(['ttft-p99']);
    expect(explainGate(plan).join('\n')).toContain('warning: spec.rollout.gate.slos names ttft-p99');
  });

  it('autoscaled: the Rollout carries no count and the ScaledObject scales the Rollout', () => {
    const qs = qws({ sla, rollout: {}, autoscaling: { maxReplicas: 3 } });
    expect(rolloutOf(renderRollout(resolvePlan(qs, config))).spec).not.toHaveProperty('replicas');
    const so = renderAll(qs, config).find((o) => o.kind === 'ScaledObject');
    expect((so!.spec as { scaleTargetRef: unknown }).scaleTargetRef).toEqual({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'chat' });
  });

  it('rejects steps and canary together, and weights outside 1..99, with the field named', () => {
    const bad = (rollout: unknown) => {
      const r = checkQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat' }, spec: { rollout } });
      return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
    };
    expect(bad({ steps: [{ weight: 10, pause: '1m' }], canary: { weight: 10, analysis: '1m' } }).join()).toContain('set either steps or canary, not both');
    expect(bad({ steps: [{ weight: 100, pause: '1m' }] }).join()).toContain('must be 99 or less');
    expect(bad({ canary: { weight: 10, analysis: '5s' } }).join()).toContain('must be between 30s and 24h');
  });
});
