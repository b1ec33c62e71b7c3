// spec.autoscaling on a real kube-apiserver, KEDA's real CRDs (copied from its Go module by
// test/tools/build-keda.sh): KEDAMissing while scaledobjects.keda.sh is not served (the workers
// run at minReplicas), the ScaledObject once the CRDs appear (no restart), the Deployment's
// replicas handed over without a dip and surviving resyncs after an external scale, the
// ScaledObject's conditions mirrored, `kubectl get -o wide`, and PrometheusURLMissing.
// KEDA itself does not run here (test/e2e/autoscaling.test.ts runs it): its status is written by
// the test the way KEDA writes it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../cluster/cluster.ts';
import { apply, get, kubeRequest, kubectl, list, newNamespace, waitFor, type KubeObject } from '../../cluster/client.ts';
import { cacheDir } from '../../support/tools.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { renderScaledObject } from '../../../src/render/scaledobject.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import type { Qws } from '../../support/qws.ts';

const KEDA_CRDS = join(cacheDir, 'keda-crds');
const QWS = 'qwenops.io/v1alpha1';
const PROM = 'http://prometheus.monitoring.svc:9090';
type Dep = KubeObject & { spec: { replicas?: number }; metadata: { managedFields?: Array<{ manager: string; fieldsV1?: { 'f:spec'?: Record<string, unknown> } }> } };
const qws = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec });
const condition = async (cluster: Cluster, ns: string, name: string, type: string) => (await get<Qws>(cluster, QWS, 'QwenService', name, ns))?.status?.conditions?.find((c) => c.type === type);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster;
const operators: RunningOperator[] = [];
beforeAll(async () => {
  if (!existsSync(join(KEDA_CRDS, 'keda.sh_scaledobjects.yaml'))) throw new Error(`${KEDA_CRDS} missing: run test/tools/build-keda.sh`);
  // No controller-manager: Deployments are looked at, not rolled out.
  cluster = await startCluster({ crds: ['crds'] });
}, 120_000);
afterAll(async () => {
  for (const op of operators) await op.stop();
  await cluster?.stop();
}, 60_000);

describe('spec.autoscaling', () => {
  let ns: string;
  let op: RunningOperator;
  beforeAll(async () => {
    ns = await newNamespace(cluster, 'scale');
    // Resync every second: an external scale must survive many of them.
    op = await startOperator(cluster.kubeconfigPath, { namespaces: [ns], monitoringCheckIntervalMs: 500, resyncIntervalMs: 1_000, config: { prometheusURL: PROM } });
    operators.push(op);
  });

  it('KEDA missing: AutoscalingReady=False/KEDAMissing, the Deployment runs minReplicas', async () => {
    await apply(cluster, qws(ns, 'chat', { gpu: { count: 0 }, replicas: 9, autoscaling: { minReplicas: 2, maxReplicas: 4 }, sla: { timeToFirstToken: { p95: '1s' } } }));
    const c = await waitFor('AutoscalingReady', () => condition(cluster, ns, 'chat', 'AutoscalingReady'), 30_000);
    expect(c).toMatchObject({ status: 'False', reason: 'KEDAMissing' });
    expect(c.message).toContain('minReplicas (2)');
    const dep = await waitFor('Deployment', () => get<Dep>(cluster, 'apps/v1', 'Deployment', 'chat', ns), 30_000);
    expect(dep.spec.replicas).toBe(2);
    expect(await get(cluster, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'scaledobjects.keda.sh')).toBeUndefined();
    await waitFor('status.autoscaling', async () => (await get<Qws>(cluster, QWS, 'QwenService', 'chat', ns))?.status?.autoscaling?.desiredReplicas === 2, 30_000);
    // A missing dependency is announced once, as a Warning (conventions.ts REASONS).
    const events = await waitFor('KEDAMissing Event', async () => {
      const found = (await list<KubeObject & { reason: string; type: string; involvedObject: { name: string } }>(cluster, 'v1', 'Event', ns)).filter((e) => e.involvedObject.name === 'chat' && e.reason === 'KEDAMissing');
      return found.length ? found : undefined;
    }, 30_000);
    expect(events.map((e) => e.type)).toEqual(['Warning']);
  }, 60_000);

  it('KEDA appears: the ScaledObject is created without a restart, replicas are handed to the HPA without a dip', async () => {
    await cluster.installCrds([KEDA_CRDS]);
    const so = await waitFor('ScaledObject', () => get<KubeObject & { spec: { minReplicaCount: number; maxReplicaCount: number; triggers: Array<{ name: string; metadata: { serverAddress: string } }> } }>(cluster, 'keda.sh/v1alpha1', 'ScaledObject', 'chat', ns), 30_000);
    expect(so.spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 4 });
    expect(so.spec.triggers.map((t) => t.name)).toEqual(['queue', 'slo-burn']);
    expect(so.spec.triggers[0]!.metadata.serverAddress).toBe(PROM);
    // Our main field manager gives up spec.replicas; the value stays (no default back to 1).
    const dep = await waitFor('replicas no longer applied by qwen-operator', async () => {
      const d = await get<Dep>(cluster, 'apps/v1', 'Deployment', 'chat', ns);
      const ours = d?.metadata.managedFields?.find((m) => m.manager === 'qwen-operator');
      return ours && !(ours.fieldsV1?.['f:spec'] && 'f:replicas' in ours.fieldsV1['f:spec']) ? d : undefined;
    }, 30_000);
    expect(dep.spec.replicas).toBe(2);
    const c = await waitFor('AutoscalingReady Unknown', async () => {
      const x = await condition(cluster, ns, 'chat', 'AutoscalingReady');
      return x?.reason === 'WaitingForKEDA' ? x : undefined;
    }, 30_000);
    expect(c.status).toBe('Unknown');
  }, 60_000);

  it('the rendered ScaledObject passes KEDA\'s CRD schema with fieldValidation=Strict', async () => {
    const live = parseQwenService(await get(cluster, QWS, 'QwenService', 'chat', ns));
    const so = renderScaledObject(resolvePlan(live, { ...defaultRenderConfig, prometheusURL: PROM }))!;
    await expect(apply(cluster, { ...so, metadata: { ...so.metadata, name: 'strict-check', ownerReferences: [] } }, { dryRun: true })).resolves.toBeDefined();
    // With a router, from zero: the external-push trigger, minReplicaCount 0 and cooldownPeriod.
    const zero = parseQwenService({ ...live, spec: { ...live.spec, router: {}, autoscaling: { ...live.spec.autoscaling, minReplicas: 0 } } });
    const pushed = renderScaledObject(resolvePlan(zero, { ...defaultRenderConfig, prometheusURL: PROM }))!;
    expect((pushed.spec as { triggers: { type: string }[] }).triggers.map((t) => t.type)).toContain('external-push');
    await expect(apply(cluster, { ...pushed, metadata: { ...pushed.metadata, name: 'strict-check-zero', ownerReferences: [] } }, { dryRun: true })).resolves.toBeDefined();
    // And the check can fail: a misspelt field is refused.
    await expect(apply(cluster, { ...so, metadata: { ...so.metadata, name: 'strict-check', ownerReferences: [] }, spec: { ...(so.spec as object), maxReplicas: 3 } }, { dryRun: true })).rejects.toThrow(/unknown field|not declared in schema/);
  }, 30_000);

  it('a scale by someone else (the HPA, kubectl scale) survives resyncs, with zero writes at rest', async () => {
    const scaled = await kubectl(cluster, ['-n', ns, 'scale', 'deployment/chat', '--replicas=3']);
    expect(scaled.stderr).toBe('');
    await waitFor('status.autoscaling.desiredReplicas 3', async () => (await get<Qws>(cluster, QWS, 'QwenService', 'chat', ns))?.status?.autoscaling?.desiredReplicas === 3, 30_000);
    await sleep(1_500);
    const before = op.writes.length;
    await sleep(4_000); // four full resyncs
    expect(op.writes.slice(before)).toEqual([]);
    expect((await get<Dep>(cluster, 'apps/v1', 'Deployment', 'chat', ns))!.spec.replicas).toBe(3);
  }, 60_000);

  it("mirrors the ScaledObject's Ready/Active, and kubectl get -o wide shows min/max/desired", async () => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = { conditions: [
      { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling', lastTransitionTime: now },
      { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active', lastTransitionTime: now },
    ] };
    // Written the way KEDA writes it: the status subresource.
    const res = await kubeRequest(cluster, 'PATCH', `/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/chat/status`, { status }, { contentType: 'application/merge-patch+json' });
    expect(res.status).toBe(200);
    const c = await waitFor('AutoscalingReady True', async () => {
      const x = await condition(cluster, ns, 'chat', 'AutoscalingReady');
      return x?.status === 'True' ? x : undefined;
    }, 30_000);
    expect(c.reason).toBe('ScalerActive');
    expect(c.message).toContain('Active=True/ScalerActive');
    const wide = await kubectl(cluster, ['-n', ns, 'get', 'qws', 'chat', '-o', 'wide']);
    // Columns by the header's positions: empty cells (no P95 yet) leave no text to split on.
    const [head, row] = wide.stdout.split('\n') as [string, string];
    const col = (name: string) => {
      const start = head.search(new RegExp(`\\b${name}\\b`));
      const next = head.slice(start + name.length).search(/\S/);
      return row.slice(start, next < 0 ? undefined : start + name.length + next).trim();
    };
    expect([col('MIN'), col('MAX'), col('DESIRED')]).toEqual(['2', '4', '3']);
  }, 60_000);
});

describe('without a Prometheus address', () => {
  it('AutoscalingReady=False/PrometheusURLMissing, no ScaledObject, minReplicas', async () => {
    const ns = await newNamespace(cluster, 'noprom');
    const op = await startOperator(cluster.kubeconfigPath, { namespaces: [ns], monitoringCheckIntervalMs: 500 });
    operators.push(op);
    await apply(cluster, qws(ns, 'chat', { gpu: { count: 0 }, autoscaling: { minReplicas: 3, maxReplicas: 4 } }));
    const c = await waitFor('AutoscalingReady', () => condition(cluster, ns, 'chat', 'AutoscalingReady'), 30_000);
    expect(c).toMatchObject({ status: 'False', reason: 'PrometheusURLMissing' });
    expect((await get<Dep>(cluster, 'apps/v1', 'Deployment', 'chat', ns))!.spec.replicas).toBe(3);
    expect(await get(cluster, 'keda.sh/v1alpha1', 'ScaledObject', 'chat', ns)).toBeUndefined();
  }, 60_000);
});
