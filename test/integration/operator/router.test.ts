// spec.router on the real apiserver (shared test control plane: controllers, scheduler, kwok),
// with the real operator: adding a router creates its objects (Deployment, Services, ServiceAccount,
// Role, RoleBinding, PodDisruptionBudget, NetworkPolicy), each owned by the QwenService, and moves
// the client's Service from the worker pods to the router pods (the workers get `<name>-workers`);
// status.router and `kubectl get qws -o wide` show the router's ready pods; removing spec.router
// removes them all and gives the Service back to the workers. kwok stands in for the kubelet, so
// the router pods are "ready" without a router process (the router itself is tested in router/).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { apply, get, installCrds, kubectl, list, waitFor, type KubeObject } from '../../cluster/client.ts';
import { hasComponent, testCluster, testNamespace } from '../../cluster/testing.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import type { Qws } from '../../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
const ROUTER_PODS = { 'app.kubernetes.io/name': 'qwen-router', 'app.kubernetes.io/instance': 'chat' };
const WORKER_PODS = { 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'chat' };
/** The router's objects beside the workers', as [apiVersion, kind, name]. */
const ROUTER_OBJECTS = [
  ['apps/v1', 'Deployment', 'chat-router'], ['v1', 'Service', 'chat-router'], ['v1', 'Service', 'chat-workers'], ['v1', 'ServiceAccount', 'chat-router'],
  ['rbac.authorization.k8s.io/v1', 'Role', 'chat-router'], ['rbac.authorization.k8s.io/v1', 'RoleBinding', 'chat-router'],
  ['policy/v1', 'PodDisruptionBudget', 'chat-router'], ['networking.k8s.io/v1', 'NetworkPolicy', 'chat-router'],
] as const;

let ns: string;
let op: RunningOperator;
const qws = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name: 'chat', namespace: ns }, spec: { gpu: { count: 0 }, ...spec } });
const selectorOf = async (name: string) => (await get<KubeObject & { spec: { selector: Record<string, string> } }>(testCluster(), 'v1', 'Service', name, ns))?.spec.selector;
/** The Service selects exactly these labels (the apiserver returns a map's keys sorted). */
const selects = async (name: string, labels: Record<string, string>) => {
  const sel = await selectorOf(name);
  return sel !== undefined && Object.keys(sel).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => sel[k] === v);
};

beforeAll(async () => {
  await installCrds(testCluster(), [join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml')]);
  ns = await testNamespace('op-router');
  op = await startOperator(testCluster().kubeconfigPath, { namespaces: [ns], config: { routerImage: 'qwen-router:test' } });
}, 120_000);

afterAll(async () => { await op?.stop(); }, 30_000);

describe('spec.router with the real operator', () => {
  it('creates the router objects owned by the QwenService and points the client\'s Service at the router pods', async () => {
    await apply(testCluster(), qws({}));
    await waitFor('Service chat on the workers', () => selects('chat', WORKER_PODS), 60_000);

    await apply(testCluster(), qws({ router: {} }));
    const owner = await get<KubeObject>(testCluster(), QWS, 'QwenService', 'chat', ns);
    for (const [apiVersion, kind, name] of ROUTER_OBJECTS) {
      const o = await waitFor(`${kind} ${name}`, () => get<KubeObject>(testCluster(), apiVersion, kind, name, ns), 60_000);
      expect([kind, o.metadata.ownerReferences]).toEqual([kind, [expect.objectContaining({ kind: 'QwenService', name: 'chat', uid: owner!.metadata.uid, controller: true })]]);
    }
    await waitFor('Service chat on the router pods', () => selects('chat', ROUTER_PODS), 30_000);
    expect(await selectorOf('chat-workers')).toEqual(WORKER_PODS);
    const dep = await get<KubeObject & { spec: { template: { spec: { serviceAccountName: string; containers: { image: string; args: string[] }[] } } } }>(testCluster(), 'apps/v1', 'Deployment', 'chat-router', ns);
    expect(dep!.spec.template.spec.serviceAccountName).toBe('chat-router');
    expect(dep!.spec.template.spec.containers[0]!.image).toBe('qwen-router:test');
    expect(dep!.spec.template.spec.containers[0]!.args).toEqual(expect.arrayContaining([`--namespace=${ns}`, '--workers-service=chat-workers', '--peers-service=chat-router']));
  }, 180_000);

  it('reports the router\'s ready pods in status.router and in kubectl get qws -o wide', async () => {
    if (!hasComponent('kwok')) return; // no kubelet stand-in: no pod ever becomes ready
    const q = await waitFor('status.router 2/2', async () => {
      const x = await get<Qws & { status?: { router?: { ready?: string } } }>(testCluster(), QWS, 'QwenService', 'chat', ns);
      return x?.status?.router?.ready === '2/2' ? x : undefined;
    }, 90_000);
    expect(q.status!.router).toEqual({ replicas: 2, readyReplicas: 2, ready: '2/2' });
    // The ReplicaSet controller created the pods as the router's ServiceAccount.
    const pods = await list<KubeObject & { spec: { serviceAccountName: string } }>(testCluster(), 'v1', 'Pod', ns, 'app.kubernetes.io/name=qwen-router');
    expect(pods.map((p) => p.spec.serviceAccountName)).toEqual(['chat-router', 'chat-router']);
    const wide = await kubectl(testCluster(), ['get', 'qws', 'chat', '-n', ns, '-o', 'wide']);
    // Columns may be empty (no SLA measured): read the row at the header's offset.
    const [header, row] = wide.stdout.split('\n');
    const at = header!.indexOf('ROUTER');
    expect(at).toBeGreaterThan(0);
    expect(row!.slice(at).split(/\s+/)[0]).toBe('2/2');
  }, 120_000);

  it('removing spec.router removes the router objects and gives the Service back to the workers', async () => {
    await apply(testCluster(), qws({}));
    for (const [apiVersion, kind, name] of ROUTER_OBJECTS) {
      await waitFor(`${kind} ${name} removed`, async () => (await get(testCluster(), apiVersion, kind, name, ns)) === undefined, 60_000);
    }
    await waitFor('Service chat on the workers again', () => selects('chat', WORKER_PODS), 30_000);
    const svc = await get<KubeObject & { spec: { ports: { name: string }[] } }>(testCluster(), 'v1', 'Service', 'chat', ns);
    expect(svc!.spec.ports.map((p) => p.name)).toEqual(['http', 'metrics']);
    await waitFor('status.router gone', async () => {
      const x = await get<Qws & { status?: { router?: unknown } }>(testCluster(), QWS, 'QwenService', 'chat', ns);
      return x?.status && x.status.router === undefined;
    }, 30_000);
  }, 120_000);
});
