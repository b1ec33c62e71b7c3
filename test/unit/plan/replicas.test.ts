// Who owns the worker count, as a table over the spec (autoscaling, rollout) and what the cluster
// serves; and that every object carrying a count follows the plan alone: a fake extra owner,
// added to the plan's owner table and nothing else, changes exactly the objects its row says.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import type { KubeObject } from '../../../src/kube/object.ts';
import { resolvePlan, type Plan } from '../../../src/plan/index.ts';
import { DEPLOYMENT, MONITORING_KINDS, ROLLOUT_KEY, ANALYSIS_TEMPLATE_KEY, SCALED_OBJECT_KEY } from '../../../src/plan/kinds.ts';
import { REPLICA_OWNERS, replicaPlan, type OwnerRow } from '../../../src/plan/replicas.ts';
import { kindKey } from '../../../src/kube/object.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { renderPlanned } from '../../../src/render/index.ts';

const PROM = { ...defaultRenderConfig, prometheusURL: 'http://prometheus:9090' };
const monitoring = MONITORING_KINDS.map(kindKey);
const SERVED = {
  none: new Set(monitoring),
  keda: new Set([...monitoring, SCALED_OBJECT_KEY]),
  argo: new Set([...monitoring, ROLLOUT_KEY, ANALYSIS_TEMPLATE_KEY]),
  both: new Set([...monitoring, SCALED_OBJECT_KEY, ROLLOUT_KEY, ANALYSIS_TEMPLATE_KEY]),
};
/** `zero`: autoscaled from 0 behind a router (spec.router, minReplicas 0, scaleToZeroAfter 10m). */
const qws = (autoscaling: boolean | 'zero', rollout: boolean, annotations?: Record<string, string>) => parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', uid: 'u1', ...(annotations ? { annotations } : {}) },
  spec: {
    replicas: 3, sla: { latency: { p95: '3s' } }, ...(rollout ? { rollout: {} } : {}),
    ...(autoscaling === 'zero' ? { autoscaling: { minReplicas: 0, maxReplicas: 5, scaleToZeroAfter: '10m' }, router: {} } : autoscaling ? { autoscaling: { minReplicas: 2, maxReplicas: 5 } } : {}),
  },
});

type Row = [autoscaling: boolean | 'zero', rollout: boolean, served: keyof typeof SERVED, owner: string];
const TABLE: Row[] = [
  [false, false, 'none', 'spec'], [false, false, 'both', 'spec'],
  [true, false, 'none', 'min-replicas'], [true, false, 'argo', 'min-replicas'], [true, false, 'keda', 'hpa'], [true, false, 'both', 'hpa'],
  [false, true, 'none', 'spec'], [false, true, 'keda', 'spec'], [false, true, 'argo', 'rollout'], [false, true, 'both', 'rollout'],
  [true, true, 'none', 'min-replicas'], [true, true, 'keda', 'hpa'], [true, true, 'argo', 'rollout'], [true, true, 'both', 'rollout-via-hpa'],
  ['zero', false, 'none', 'min-replicas'], ['zero', false, 'keda', 'keda-to-zero'], ['zero', true, 'both', 'rollout-via-hpa'],
];

const find = (objs: KubeObject[], kind: string) => objs.find((o) => o.kind === kind);
const spec = (o: KubeObject | undefined) => o?.spec as Record<string, unknown> | undefined;

/** Every object that carries a count says what the plan says, and nothing else decides it. */
function expectObjectsFollow(plan: Plan) {
  const { objects } = renderPlanned(plan);
  const r = plan.replicas;
  const dep = find(objects, 'Deployment')!;
  expect(spec(dep)!.replicas).toBe(r.deploymentReplicas);
  expect(dep.metadata.annotations?.['qwenops.io/replicas-from']).toBe(r.replicasFrom);
  expect(spec(find(objects, 'Rollout'))?.replicas).toBe(r.rolloutReplicas);
  const so = find(objects, 'ScaledObject');
  if (so) expect((spec(so)!.scaleTargetRef as { kind: string }).kind).toBe(r.scaleTarget.kind);
  if (so) expect([spec(so)!.minReplicaCount === 0, spec(so)!.cooldownPeriod]).toEqual(r.scaleToZeroAfterSeconds === undefined ? [false, undefined] : [true, r.scaleToZeroAfterSeconds]);
  expect(find(objects, 'PodDisruptionBudget') !== undefined).toBe(r.mayRunSeveral);
  expect((spec(find(objects, 'ServiceMonitor'))!.podTargetLabels) !== undefined).toBe(plan.objects.rollout === 'applied');
}

describe('who owns the worker count', () => {
  it.each(TABLE)('autoscaling %s, rollout %s, cluster serves %s: %s', (autoscaling, rollout, served, owner) => {
    const plan = resolvePlan(qws(autoscaling, rollout), PROM, SERVED[served]);
    expect(plan.replicas.owner).toBe(owner);
    expectObjectsFollow(plan);
  });

  it('every owner in the table is reached', () => {
    expect(new Set(TABLE.map((r) => r[3]))).toEqual(new Set(REPLICA_OWNERS.map((o) => o.name)));
  });

  it('from zero: KEDA removes the last worker after scaleToZeroAfter; without KEDA one worker runs, since nothing would wake it', () => {
    expect(resolvePlan(qws('zero', false), PROM, SERVED.keda).replicas).toMatchObject({ owner: 'keda-to-zero', scaleToZeroAfterSeconds: 600, replicasFrom: 'autoscaler' });
    expect(resolvePlan(qws('zero', false), PROM, SERVED.none).replicas).toMatchObject({ owner: 'min-replicas', deploymentReplicas: 1 });
    expect(resolvePlan(qws('zero', false), defaultRenderConfig, SERVED.keda).replicas).toMatchObject({ owner: 'min-replicas', deploymentReplicas: 1 });
  });

  it('without a Prometheus address nothing but the spec or the floor owns it', () => {
    expect(resolvePlan(qws(true, true), defaultRenderConfig, SERVED.both).replicas.owner).toBe('min-replicas');
    expect(resolvePlan(qws(false, true), defaultRenderConfig, SERVED.both).replicas.owner).toBe('spec');
  });

  // A new owner is one row in the owner table; no renderer, status or hand-off code changes.
  const ROUTER: OwnerRow = {
    name: 'router',
    owns: (i) => (i.qs.metadata as { annotations?: Record<string, string> }).annotations?.['example.test/router'] === 'true' && !i.rollout,
    ownership: () => ({ replicasFrom: 'autoscaler', scaleTarget: DEPLOYMENT }),
  };
  const withRouter = (plan: Plan): Plan => ({
    ...plan,
    replicas: replicaPlan({ qs: plan.qs, ...(plan.scaling ? { scaling: plan.scaling } : {}), scaledObject: plan.objects.scaledObject === 'applied', rollout: plan.objects.rollout === 'applied', router: plan.router !== undefined }, [ROUTER, ...REPLICA_OWNERS]),
  });

  // Not from zero: the fake row would take the count from KEDA's zero (a ScaledObject change, as its row says).
  it.each(TABLE.filter((r) => r[0] !== 'zero'))('a fake owner added to the plan alone: autoscaling %s, rollout %s, served %s', (autoscaling, rollout, served) => {
    const routed = qws(autoscaling, rollout, { 'example.test/router': 'true' });
    const before = resolvePlan(routed, PROM, SERVED[served]);
    const after = withRouter(before);
    expectObjectsFollow(after);
    const changed = (a: KubeObject[], b: KubeObject[]) => a.filter((o) => JSON.stringify(o) !== JSON.stringify(b.find((x) => x.kind === o.kind && x.metadata.name === o.metadata.name))).map((o) => o.kind);
    const [old, next] = [renderPlanned(before).objects, renderPlanned(after).objects];
    if ((after.replicas.owner as string) === 'router') {
      expect(before.replicas.owner).not.toBe('router');
      // The Deployment (the count leaves it) — and only it; the ScaledObject's target was the Deployment already.
      expect(changed(next, old)).toEqual(before.replicas.deploymentReplicas === undefined && before.replicas.replicasFrom === 'autoscaler' ? [] : ['Deployment']);
    } else {
      expect(changed(next, old)).toEqual([]);
    }
    expect(next.map((o) => o.kind)).toEqual(old.map((o) => o.kind));
  });
});
