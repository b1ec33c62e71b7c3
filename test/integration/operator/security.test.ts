// Issue 13 on the real apiserver (shared test control plane: controllers, scheduler, kwok): the
// operator creates a NetworkPolicy per QwenService and mounts the API key Secret into the worker
// pods, and the apiserver (and, for pods, the ReplicaSet controller) accepts both as rendered.
// No CNI runs here, so nothing enforces the NetworkPolicy: this tests what is created, not the
// traffic it blocks. The operator is never given the Secret (nor RBAC to read Secrets; see
// test/unit/render/security.test.ts); the kubelet would read it, and kwok stands in for the kubelet.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { apply, get, installCrds, list, waitFor, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { Manager } from '../../../src/controller/manager.ts';
import { operatorMetrics } from '../../../src/controller/metrics.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import type { Qws } from '../../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
const NP = 'networking.k8s.io/v1';
type Peer = Record<string, unknown>;
type NetworkPolicy = KubeObject & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from: Peer[]; ports: { protocol: string; port: number }[] }[] } };
type PodSpec = {
  securityContext: { fsGroup: number };
  containers: { args: string[]; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  volumes: { name: string; secret?: { secretName: string; items: { key: string; path: string }[]; defaultMode: number } }[];
};

let ns: string;
let manager: Manager;
const auth = { apiKey: { secretKeyRef: { name: 'chat-api-keys', key: 'keys' } } };
const gateway = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateway' } }, podSelector: { matchLabels: { app: 'proxy' } } };
const office = { ipBlock: { cidr: '192.168.10.0/24', except: ['192.168.10.128/25'] } };

const qws = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec: { gpu: { count: 0 }, ...spec } });
const policy = (name: string) => get<NetworkPolicy>(testCluster(), NP, 'NetworkPolicy', name, ns);
const podSpec = async (name: string) => (await get<KubeObject & { spec: { template: { spec: PodSpec } } }>(testCluster(), 'apps/v1', 'Deployment', name, ns))?.spec.template.spec;

beforeAll(async () => {
  await installCrds(testCluster(), [join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml')]);
  ns = await testNamespace('op-security');
  const kc = new KubeConfig();
  kc.loadFromFile(testCluster().kubeconfigPath);
  manager = new Manager({
    client: new KubeClient(kc), log: pino({ level: process.env.QWEN_TEST_LOG ?? 'silent' }), metrics: operatorMetrics(), namespaces: [ns], concurrency: 2,
    monitoringCheckIntervalMs: 1_000, resyncIntervalMs: 600_000,
    // As `qwen-operator run --prometheus-namespaces monitoring` (chart value prometheusNamespaces).
    config: { ...defaultRenderConfig, workerImage: 'qwen-worker:test', prometheusNamespaces: ['monitoring'] },
  });
  await manager.start();
}, 120_000);

afterAll(async () => {
  await manager?.stop();
}, 30_000);

describe('secure by default on a real apiserver (no CNI: what is created, not what it blocks)', () => {
  it('creates an owned NetworkPolicy: API port from this namespace plus allowFrom, metrics port from the Prometheus namespaces', async () => {
    await apply(testCluster(), qws('chat', { auth, network: { allowFrom: [gateway, office] } }));
    const np = await waitFor('NetworkPolicy chat', () => policy('chat'), 60_000);
    const owner = await get<KubeObject>(testCluster(), QWS, 'QwenService', 'chat', ns);
    expect(np.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'QwenService', name: 'chat', uid: owner!.metadata.uid, controller: true })]);
    expect(np.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'chat' });
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      { from: [{ podSelector: {} }, gateway, office], ports: [{ protocol: 'TCP', port: 8080 }] },
      { from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring'] }] } }], ports: [{ protocol: 'TCP', port: 9090 }] },
    ]);
  }, 90_000);

  it('mounts the API key Secret read-only into the worker pods, starts the worker with --api-key-file, and says a key is needed', async () => {
    const spec = await waitFor('Deployment chat', () => podSpec('chat'), 60_000);
    const volume = spec.volumes.find((v) => v.secret);
    expect(volume?.secret).toEqual({ secretName: 'chat-api-keys', items: [{ key: 'keys', path: 'keys' }], defaultMode: 0o440 });
    const c = spec.containers[0]!;
    const mount = c.volumeMounts.find((m) => m.name === volume!.name)!;
    expect(mount.readOnly).toBe(true);
    expect(c.args).toContain(`--api-key-file=${mount.mountPath}/keys`);
    expect(spec.securityContext.fsGroup).toBe(65532);
    // The ReplicaSet controller created a pod from it: the apiserver's pod validation took the volume.
    const pods = await waitFor('worker pod', async () => {
      const l = await list<KubeObject & { spec: PodSpec }>(testCluster(), 'v1', 'Pod', ns, 'app.kubernetes.io/instance=chat');
      return l.length ? l : undefined;
    }, 60_000);
    expect(pods[0]!.spec.volumes).toContainEqual(expect.objectContaining({ name: volume!.name, secret: expect.objectContaining({ secretName: 'chat-api-keys' }) }));
    const q = await waitFor('status.endpointAuth', async () => { const x = await get<Qws>(testCluster(), QWS, 'QwenService', 'chat', ns); return x?.status?.endpointAuth ? x : undefined; }, 30_000);
    expect(q.status!.endpoint).toBe(`http://chat.${ns}.svc:8080/v1`);
    expect(q.status!.endpointAuth).toMatch(/API key required.*Secret chat-api-keys, key keys/);
  }, 120_000);

  it('without spec.auth the worker runs open (no mount, no flag, no endpointAuth) and the NetworkPolicy still applies', async () => {
    await apply(testCluster(), qws('open', {}));
    const np = await waitFor('NetworkPolicy open', () => policy('open'), 60_000);
    expect(np.spec.ingress.map((r) => r.from)).toEqual([[{ podSelector: {} }], [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring'] }] } }]]);
    const spec = await waitFor('Deployment open', () => podSpec('open'), 60_000);
    expect(spec.volumes.filter((v) => v.secret)).toEqual([]);
    expect(spec.containers[0]!.args.filter((a) => a.startsWith('--api-key-file'))).toEqual([]);
    const q = await waitFor('status.endpoint', async () => { const x = await get<Qws>(testCluster(), QWS, 'QwenService', 'open', ns); return x?.status?.endpoint ? x : undefined; }, 30_000);
    expect(q.status!.endpointAuth).toBeUndefined();
  }, 120_000);

  it('network.policy: false prunes the NetworkPolicy, true brings it back; dropping spec.auth removes mount, flag and endpointAuth', async () => {
    await apply(testCluster(), qws('chat', { network: { policy: false } }));
    await waitFor('NetworkPolicy chat pruned', async () => (await policy('chat')) === undefined, 30_000);
    await waitFor('no API key mount', async () => { const s = await podSpec('chat'); return s && !s.volumes.some((v) => v.secret) && !s.containers[0]!.args.some((a) => a.startsWith('--api-key-file')); }, 30_000);
    await waitFor('endpointAuth gone', async () => { const x = await get<Qws>(testCluster(), QWS, 'QwenService', 'chat', ns); return x?.status?.endpoint && x.status.endpointAuth === undefined; }, 30_000);
    await apply(testCluster(), qws('chat', { network: { policy: true } }));
    const np = await waitFor('NetworkPolicy chat again', () => policy('chat'), 30_000);
    expect(np.spec.ingress[0]!.from).toEqual([{ podSelector: {} }]);
  }, 120_000);
});
