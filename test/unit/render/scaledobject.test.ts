// spec.autoscaling -> KEDA ScaledObject and the workload changes it implies: the rendered objects
// for the autoscaled example, scaleOnSLOBurn off, no SLA block, KEDA or Prometheus missing; the
// AutoscalingReady condition. (The trigger queries evaluated by promtool: test/with-tools/render.)
import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { parseQwenService } from '../../../src/api/validate.ts';
import type { QwenServiceInput } from '../../../src/api/qwenservice.ts';
import { defaultRenderConfig, type KubeObject } from '../../../src/render/common.ts';
import { OWNED_KINDS, kindKey, renderAll } from '../../../src/render/index.ts';
import { BURN_TRIGGER, QUEUE_TRIGGER, explainScaling, renderScaledObject } from '../../../src/render/scaledobject.ts';
import { SCALED_OBJECT_KEY } from '../../../src/plan/kinds.ts';
import { autoscalingStatus } from '../../../src/controller/autoscaling.ts';
import { computeStatus } from '../../../src/controller/status.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { OPERATOR_RULES } from '../../../src/rbac.ts';
import { METRICS_ABSENT_ALERT } from '../../../src/conventions.ts';
import { compileSla } from '../../../src/sla/rules.ts';

const PROM = 'http://prometheus.monitoring.svc:9090';
const config = { ...defaultRenderConfig, prometheusURL: PROM };
const ALL = new Set(OWNED_KINDS.filter((k) => k.monitoring || k.optional).map(kindKey));
const withoutKeda = new Set([...ALL].filter((k) => k !== SCALED_OBJECT_KEY));

type Trigger = { type: string; name: string; metricType: string; metadata: { serverAddress: string; query: string; threshold: string; ignoreNullValues: string } };
type ScaledObjectSpec = {
  scaleTargetRef: { apiVersion: string; kind: string; name: string };
  minReplicaCount: number; maxReplicaCount: number; pollingInterval: number;
  advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleUp: { stabilizationWindowSeconds: number }; scaleDown: { stabilizationWindowSeconds: number } } } };
  triggers: Trigger[];
};

const example = () => {
  const qs = parseQwenService(load(readFileSync('manifests/examples/autoscaled.yaml', 'utf8')));
  (qs.metadata as Record<string, unknown>).uid = 'uid-a';
  return qs;
};
const qws = (spec: QwenServiceInput['spec']) => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', uid: 'uid-1' }, spec });
const byKind = (objs: KubeObject[], kind: string) => objs.filter((o) => o.kind === kind);
const specOf = (o: KubeObject | undefined) => o!.spec as ScaledObjectSpec;
const trigger = (o: KubeObject | undefined, name: string) => specOf(o).triggers.find((t) => t.name === name);

describe('the autoscaled example', () => {
  const qs = example();
  const objs = renderAll(qs, config, { servedMonitoringKinds: ALL });
  const so = byKind(objs, 'ScaledObject')[0];

  it('renders a ScaledObject named after the QwenService, owned by it, scaling its worker Deployment', () => {
    expect(so).toBeDefined();
    expect(so!.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so!.metadata).toMatchObject({ name: 'chat-autoscaled', namespace: 'team-a', ownerReferences: [expect.objectContaining({ kind: 'QwenService', uid: 'uid-a', controller: true })] });
    expect(specOf(so).scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'chat-autoscaled' });
    expect(byKind(objs, 'Deployment').map((d) => d.metadata.name)).toEqual(['chat-autoscaled']);
    expect(specOf(so)).toMatchObject({ minReplicaCount: 1, maxReplicaCount: 4 });
  });

  it('has a queue trigger at targetInFlightPerReplica and a burn trigger at 1 over the latency and TTFT SLOs only', () => {
    const queue = trigger(so, QUEUE_TRIGGER)!;
    expect(queue).toMatchObject({ type: 'prometheus', metricType: 'AverageValue', metadata: { serverAddress: PROM, threshold: '4', ignoreNullValues: 'true' } });
    expect(queue.metadata.query).toContain('gen_ai_server_requests_running|gen_ai_server_requests_waiting');
    expect(queue.metadata.query).toContain('namespace="team-a",service="chat-autoscaled"');
    const burn = trigger(so, BURN_TRIGGER)!;
    expect(burn).toMatchObject({ type: 'prometheus', metricType: 'Value', metadata: { threshold: '1' } });
    expect(burn.metadata.query).toContain('slo=~"latency-p95|ttft-p95"');
    // errorRate is in the SLA but more pods do not fix errors.
    expect(burn.metadata.query).not.toContain('error-rate');
    expect(burn.metadata.query).toContain('qwen_slo:sli_error:ratio_rate5m');
    expect(burn.metadata.query).toContain('qwen_slo:error_budget:ratio');
  });

  it('scales up at once and down after scaleDownStabilization', () => {
    const b = specOf(so).advanced.horizontalPodAutoscalerConfig.behavior;
    expect(b.scaleUp.stabilizationWindowSeconds).toBe(0);
    expect(b.scaleDown.stabilizationWindowSeconds).toBe(300);
    const short = renderScaledObject(resolvePlan(qws({ autoscaling: { maxReplicas: 3, scaleDownStabilization: '30s' } }), config));
    expect(specOf(short).advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(30);
  });

  it('leaves spec.replicas out of the Deployment, so the HPA owns it; keeps a PodDisruptionBudget for maxReplicas > 1', () => {
    const dep = byKind(objs, 'Deployment')[0]!;
    expect(dep.spec as object).not.toHaveProperty('replicas');
    expect(byKind(objs, 'PodDisruptionBudget')).toHaveLength(1);
  });

  it('explains the rules in words', () => {
    const text = explainScaling(resolvePlan(qs, config));
    expect(text).toMatch(/between 1 and 4 workers \(spec\.replicas is ignored\)/);
    expect(text).toMatch(/exceed 4 per worker/);
    expect(text).toMatch(/5m burn rate of latency-p95, ttft-p95 is above 1/);
    expect(text).toMatch(/300s \(scaleDownStabilization\)/);
  });
});

describe('defaults and switches', () => {
  it('targetInFlightPerReplica defaults to model.parallel', () => {
    const so = renderScaledObject(resolvePlan(qws({ model: { parallel: 6 }, autoscaling: { maxReplicas: 3 } }), config));
    expect(trigger(so, QUEUE_TRIGGER)!.metadata.threshold).toBe('6');
    expect(specOf(so).minReplicaCount).toBe(1);
  });

  it('scaleOnSLOBurn: false leaves the queue trigger alone', () => {
    const qs = qws({ autoscaling: { maxReplicas: 3, scaleOnSLOBurn: false }, sla: { latency: { p95: '3s' } } });
    expect(specOf(renderScaledObject(resolvePlan(qs, config))).triggers.map((t) => t.name)).toEqual([QUEUE_TRIGGER]);
    expect(explainScaling(resolvePlan(qs, config))).toMatch(/SLO burn: off \(scaleOnSLOBurn is false\)/);
  });

  it('no SLA block: queue trigger only', () => {
    const qs = qws({ autoscaling: { maxReplicas: 3 } });
    expect(specOf(renderScaledObject(resolvePlan(qs, config))).triggers.map((t) => t.name)).toEqual([QUEUE_TRIGGER]);
    expect(explainScaling(resolvePlan(qs, config))).toMatch(/SLO burn: off \(the SLA has no latency, TTFT or tokens\/s objective\)/);
  });

  it('an SLA with errors and availability only: no burn trigger (not a capacity problem)', () => {
    const qs = qws({ autoscaling: { maxReplicas: 3 }, sla: { errorRate: '1%', availability: '99%' } });
    expect(specOf(renderScaledObject(resolvePlan(qs, config))).triggers.map((t) => t.name)).toEqual([QUEUE_TRIGGER]);
  });

  it('tokens/s and TTFT percentiles all join the burn trigger', () => {
    const qs = qws({ autoscaling: { maxReplicas: 3 }, sla: { timeToFirstToken: { p95: '1s', p99: '2s' }, outputTokensPerSecond: { min: 10 } } });
    expect(trigger(renderScaledObject(resolvePlan(qs, config)), BURN_TRIGGER)!.metadata.query).toContain('slo=~"ttft-p95|ttft-p99|output-tokens-per-second"');
  });

  it('without autoscaling: no ScaledObject and spec.replicas as written', () => {
    const objs = renderAll(qws({ replicas: 3 }), config, { servedMonitoringKinds: ALL });
    expect(byKind(objs, 'ScaledObject')).toHaveLength(0);
    expect((byKind(objs, 'Deployment')[0]!.spec as { replicas: number }).replicas).toBe(3);
  });

  it('KEDA not served: no ScaledObject, the Deployment runs minReplicas', () => {
    const objs = renderAll(qws({ replicas: 7, autoscaling: { minReplicas: 2, maxReplicas: 5 } }), config, { servedMonitoringKinds: withoutKeda });
    expect(byKind(objs, 'ScaledObject')).toHaveLength(0);
    expect((byKind(objs, 'Deployment')[0]!.spec as { replicas: number }).replicas).toBe(2);
  });

  it('no Prometheus address: no ScaledObject, the Deployment runs minReplicas', () => {
    const objs = renderAll(qws({ autoscaling: { minReplicas: 2, maxReplicas: 5 } }), defaultRenderConfig, { servedMonitoringKinds: ALL });
    expect(byKind(objs, 'ScaledObject')).toHaveLength(0);
    expect((byKind(objs, 'Deployment')[0]!.spec as { replicas: number }).replicas).toBe(2);
  });

  it('maxReplicas 1: no PodDisruptionBudget even when spec.replicas says 3', () => {
    const objs = renderAll(qws({ replicas: 3, autoscaling: { maxReplicas: 1 } }), config, { servedMonitoringKinds: ALL });
    expect(byKind(objs, 'PodDisruptionBudget')).toHaveLength(0);
  });

  it('an autoscaled service keeps its QwenSLOMetricsAbsent alert even with spec.replicas 0 (it always runs workers)', () => {
    const alerts = (qs: ReturnType<typeof qws>) => compileSla(qs, { runbookURL: 'https://runbook' }).groups.flatMap((g) => g.rules).filter((r) => 'alert' in r && r.alert === METRICS_ABSENT_ALERT);
    expect(alerts(qws({ replicas: 0, sla: { latency: { p95: '3s' } } }))).toHaveLength(0);
    expect(alerts(qws({ replicas: 0, autoscaling: { maxReplicas: 2 }, sla: { latency: { p95: '3s' } } }))).toHaveLength(1);
  });

  it('the operator may manage ScaledObjects (RBAC)', () => {
    expect(OPERATOR_RULES).toContainEqual({ apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] });
  });
});

describe('AutoscalingReady', () => {
  const qs = qws({ autoscaling: { minReplicas: 2, maxReplicas: 5 } });
  const dep = (replicas?: number) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'chat' }, spec: replicas === undefined ? {} : { replicas } });
  const so = (conditions: object[]) => ({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'chat' }, status: { conditions } });

  it('is absent without spec.autoscaling', () => {
    expect(autoscalingStatus(resolvePlan(qws({}), config), {}, 1)).toEqual({});
  });

  it('False/KEDAMissing while the cluster does not serve ScaledObjects', () => {
    const r = autoscalingStatus(resolvePlan(qs, config, withoutKeda), {}, 2);
    expect(r.condition).toMatchObject({ status: 'False', reason: 'KEDAMissing' });
    expect(r.condition!.message).toMatch(/minReplicas \(2\)/);
    expect(r.status).toEqual({ minReplicas: 2, maxReplicas: 5, desiredReplicas: 2 });
  });

  it('False/PrometheusURLMissing without an address', () => {
    expect(autoscalingStatus(resolvePlan(qs, defaultRenderConfig), {}, 2).condition).toMatchObject({ status: 'False', reason: 'PrometheusURLMissing' });
  });

  it('Unknown until KEDA has looked at the ScaledObject', () => {
    expect(autoscalingStatus(resolvePlan(qs, config), {}, 2).condition).toMatchObject({ status: 'Unknown', reason: 'WaitingForKEDA' });
  });

  it("mirrors the ScaledObject's Ready and Active", () => {
    const obs = (c: object[]) => ({ scaledObject: so(c) });
    const plan = resolvePlan(qs, config);
    const ready = { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' };
    expect(autoscalingStatus(plan, obs([ready, { type: 'Active', status: 'True', reason: 'ScalerActive' }]), 4)).toEqual({
      status: { minReplicas: 2, maxReplicas: 5, desiredReplicas: 4 },
      condition: expect.objectContaining({ status: 'True', reason: 'ScalerActive' }),
    });
    expect(autoscalingStatus(plan, obs([ready, { type: 'Active', status: 'False', reason: 'ScalerNotActive' }]), 2).condition).toMatchObject({ status: 'True', reason: 'ScalerIdle' });
    const failed = autoscalingStatus(plan, obs([{ type: 'Ready', status: 'False', reason: 'TriggerError', message: 'prometheus query failed' }]), 2).condition!;
    expect(failed).toMatchObject({ status: 'False', reason: 'TriggerError' });
    expect(failed.message).toContain('prometheus query failed');
  });

  it('counts the HPA-chosen replicas as desired in Ready', () => {
    const deployment = { ...dep(3), status: { replicas: 3, readyReplicas: 3, updatedReplicas: 3, observedGeneration: 1 }, metadata: { name: 'chat', generation: 1 } };
    const st = computeStatus(resolvePlan(qs, config), { deployment, pods: [], missingMonitoringKinds: [], monitoringRequested: false, autoscaling: {} }, '2026-01-01T00:00:00Z');
    expect(st.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', message: '3/3 workers ready' });
    expect(st.autoscaling).toEqual({ minReplicas: 2, maxReplicas: 5, desiredReplicas: 3 });
  });
});
