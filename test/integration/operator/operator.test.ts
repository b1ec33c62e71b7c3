// The operator against a real control plane (etcd, kube-apiserver, controller-manager, scheduler,
// kwok GPU nodes): children with owner references, updates, pruning, garbage collection, GPU
// shortfall reported and resolved, Pod Security "restricted", zero writes at rest, and recovery
// after an apiserver restart with etcd compacted (410 Gone).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { DEFAULT_NODES, startCluster, type Cluster } from '../../cluster/cluster.ts';
import { apply, get, list, newNamespace, remove, waitFor, type KubeObject } from '../../cluster/client.ts';
import { cacheDir } from '../../support/tools.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import type { Qws } from '../../support/qws.ts';

const PROM_CRDS = join(cacheDir, 'prometheus-operator-crds');
const QWS = 'qwenops.io/v1alpha1';

let cluster: Cluster;
let op: RunningOperator;

const condition = (q: Qws | undefined, type: string) => q?.status?.conditions?.find((c) => c.type === type);
const qws = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec });
const getQws = (ns: string, name: string) => get<Qws>(cluster, QWS, 'QwenService', name, ns);
const sla = { latency: { p95: '3s', p99: '5s' }, errorRate: '1%' };
const alerting = { receivers: [{ name: 'hook', webhook: { url: { secretKeyRef: { name: 'hook', key: 'url' } } } }], routes: { critical: ['hook'], warning: ['hook'] } };

async function waitCondition(ns: string, name: string, type: string, status: string, reason?: string, timeoutMs = 60_000): Promise<Qws> {
  return waitFor(`${ns}/${name} ${type}=${status}${reason ? `/${reason}` : ''}`, async () => {
    const q = await getQws(ns, name);
    const c = condition(q, type);
    return c && c.status === status && (!reason || c.reason === reason) ? q : undefined;
  }, timeoutMs, 250);
}

async function settle(ms = 1500): Promise<void> {
  // The queue is empty and nothing is in flight for a while: the operator is at rest.
  const deadline = Date.now() + 60_000;
  let quietSince = Date.now();
  let last = op.writes.length;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (op.writes.length !== last || op.manager.queue.length > 0) { last = op.writes.length; quietSince = Date.now(); }
    if (Date.now() - quietSince >= ms) return;
  }
  throw new Error('operator never came to rest');
}

beforeAll(async () => {
  cluster = await startCluster({ controllers: true, scheduler: true, kwokNodes: DEFAULT_NODES, crds: ['crds', PROM_CRDS] });
  op = await startOperator(cluster.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await cluster?.stop();
}, 60_000);

describe('operator on a real cluster', () => {
  it('creates every child with a controller owner reference, and reaches Ready', async () => {
    const ns = await newNamespace(cluster, 'op-create');
    await apply(cluster, qws(ns, 'chat', { replicas: 1, gpu: { count: 1, product: 'NVIDIA-L4' }, sla, alerting }));
    const q = await waitCondition(ns, 'chat', 'Ready', 'True', 'AllWorkersReady');
    const uid = q.metadata.uid as string;
    for (const [apiVersion, kind, name] of [
      ['apps/v1', 'Deployment', 'chat'], ['v1', 'Service', 'chat'],
      ['monitoring.coreos.com/v1', 'ServiceMonitor', 'chat'], ['monitoring.coreos.com/v1', 'PrometheusRule', 'chat'],
      ['monitoring.coreos.com/v1alpha1', 'AlertmanagerConfig', 'chat'],
    ] as const) {
      const child = await get<KubeObject>(cluster, apiVersion, kind, name, ns);
      expect([kind, child?.metadata.ownerReferences]).toEqual([kind, [expect.objectContaining({ kind: 'QwenService', name: 'chat', uid, controller: true })]]);
    }
    type PodSpec = { containers: Array<{ args: string[]; resources: { limits: Record<string, string> } }>; affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Array<{ matchExpressions: unknown[] }> } } } };
    const dep = (await get<KubeObject & { spec: { template: { spec: PodSpec } } }>(cluster, 'apps/v1', 'Deployment', 'chat', ns))!;
    const pod = dep.spec.template.spec;
    expect(pod.containers[0]!.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]!.matchExpressions[0]).toEqual({ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-L4'] });
    expect(pod.containers[0]!.args.join(' ')).toMatch(/--slo-buckets=\S*3\S*5/);
    const pods = await list<KubeObject & { spec: { nodeName?: string } }>(cluster, 'v1', 'Pod', ns);
    expect(pods.map((p) => p.spec.nodeName)).toEqual(['kwok-gpu-l4-0']);
    expect(q.status).toMatchObject({ readyReplicas: 1, endpoint: `http://chat.${ns}.svc:8080/v1` });
    expect(condition(q, 'MonitoringReady')).toMatchObject({ status: 'True' });
  }, 120_000);

  it('updates the rules when the SLA changes, prunes them when it goes, and reverts a user edit', async () => {
    const ns = await newNamespace(cluster, 'op-update');
    await apply(cluster, qws(ns, 'svc', { replicas: 1, gpu: { count: 0 }, sla, alerting }));
    await waitFor('PrometheusRule', () => get(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', 'svc', ns), 60_000);
    const ruleText = async () => JSON.stringify((await get<KubeObject>(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', 'svc', ns))?.spec ?? null);
    expect(await ruleText()).not.toContain('latency-p90');

    await apply(cluster, qws(ns, 'svc', { replicas: 1, gpu: { count: 0 }, sla: { ...sla, latency: { p90: '2s', p95: '3s', p99: '5s' } }, alerting }));
    await waitFor('rule with latency-p90', async () => (await ruleText()).includes('latency-p90'), 30_000);

    await apply(cluster, qws(ns, 'svc', { replicas: 1, gpu: { count: 0 } }));
    await waitFor('PrometheusRule pruned', async () => (await get(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', 'svc', ns)) === undefined, 30_000);
    await waitFor('AlertmanagerConfig pruned', async () => (await get(cluster, 'monitoring.coreos.com/v1alpha1', 'AlertmanagerConfig', 'svc', ns)) === undefined, 30_000);
    expect(await get(cluster, 'apps/v1', 'Deployment', 'svc', ns)).toBeDefined();

    // A user scales the Deployment by hand: the operator owns spec.replicas and puts it back.
    await apply(cluster, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'svc', namespace: ns }, spec: { replicas: 3 } }, { fieldManager: 'kubectl-edit', force: true });
    await waitFor('replicas reverted to 1', async () => ((await get<KubeObject & { spec: { replicas: number } }>(cluster, 'apps/v1', 'Deployment', 'svc', ns))?.spec.replicas === 1), 30_000);
  }, 120_000);

  it('reports WaitingForGPU with the scheduler\'s words, then Ready once a GPU node joins', async () => {
    const ns = await newNamespace(cluster, 'op-gpu');
    // More GPUs per worker than any node has (the largest has 4).
    await apply(cluster, qws(ns, 'big', { replicas: 1, gpu: { count: 8 } }));
    const q = await waitCondition(ns, 'big', 'Ready', 'False', 'WaitingForGPU');
    expect(condition(q, 'Ready')!.message).toContain('needs 8 nvidia.com/gpu per worker');
    expect(condition(q, 'Ready')!.message).toMatch(/0\/3 nodes are available: .*Insufficient nvidia\.com\/gpu/);
    expect(condition(q, 'Degraded')).toMatchObject({ status: 'True', reason: 'WaitingForGPU' });
    const events = await list<KubeObject & { reason: string; type: string }>(cluster, 'v1', 'Event', ns);
    expect(events.filter((e) => e.reason === 'WaitingForGPU' && e.type === 'Warning')).toHaveLength(1);

    await cluster.addGpuNode('kwok-gpu-h100-0', 8, 'NVIDIA-H100-80GB-HBM3');
    await waitCondition(ns, 'big', 'Ready', 'True', 'AllWorkersReady', 90_000);
  }, 180_000);

  it('runs the worker pod in a namespace enforcing Pod Security "restricted"', async () => {
    const ns = await newNamespace(cluster, 'op-restricted', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' });
    await apply(cluster, qws(ns, 'strict', { replicas: 1, gpu: { count: 0 } }));
    await waitCondition(ns, 'strict', 'Ready', 'True');
    expect(await list(cluster, 'v1', 'Pod', ns)).toHaveLength(1);
  }, 120_000);

  it('writes nothing after a restart when nothing changed, nor at rest through repeated full resyncs', async () => {
    await settle();
    await op.stop();
    // A resync every 500 ms: at rest, every QwenService is reconciled again and again, and each
    // reconcile must find nothing to write (the same holds for the default 10-minute period).
    op = await startOperator(cluster.kubeconfigPath, { resyncIntervalMs: 500 });
    await settle(2_000);
    expect(op.writes).toEqual([]);
    const reconciles = async () => Number(/ (\d+)$/m.exec(await op.metrics.registry.getSingleMetricAsString('controller_runtime_reconcile_total'))?.[1] ?? 0);
    const before = await reconciles();
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await reconciles()).toBeGreaterThan(before + 5);
    expect(op.writes).toEqual([]);
    await op.stop();
    op = await startOperator(cluster.kubeconfigPath);
  }, 120_000);

  it('garbage-collects the children when the QwenService is deleted', async () => {
    const ns = await newNamespace(cluster, 'op-delete');
    await apply(cluster, qws(ns, 'gone', { replicas: 1, gpu: { count: 0 }, sla }));
    await waitFor('Deployment', () => get(cluster, 'apps/v1', 'Deployment', 'gone', ns), 60_000);
    await remove(cluster, QWS, 'QwenService', 'gone', ns);
    await waitFor('children collected', async () => {
      const left = await Promise.all([
        get(cluster, 'apps/v1', 'Deployment', 'gone', ns), get(cluster, 'v1', 'Service', 'gone', ns),
        get(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', 'gone', ns),
      ]);
      return left.every((x) => x === undefined);
    }, 60_000);
  }, 120_000);

  it('converges after kube-apiserver restarts and etcd is compacted (410 Gone → relist)', async () => {
    const ns = await newNamespace(cluster, 'op-restart');
    const relistsBefore = op.manager.qwenServices.relists();
    // Churn the store, compact it, restart the apiserver: resuming a watch from an old
    // resourceVersion now fails with 410 and the informers must relist.
    for (let i = 0; i < 5; i++) await apply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `churn-${i}`, namespace: ns }, data: { i: String(i) } });
    await cluster.compactEtcd();
    await cluster.restartApiserver();
    await apply(cluster, qws(ns, 'after', { replicas: 1, gpu: { count: 0 }, sla }));
    await waitFor('children after restart', () => get(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', 'after', ns), 90_000);
    await waitCondition(ns, 'after', 'Ready', 'True', undefined, 90_000);
    expect(op.manager.qwenServices.relists()).toBeGreaterThan(relistsBefore);
  }, 180_000);
});
