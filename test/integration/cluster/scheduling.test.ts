// Controller-manager + scheduler + kwok: GPU requests are scheduled onto fake GPU nodes (or stay
// Pending as Unschedulable), owners garbage-collect their dependents, and PodSecurity "restricted"
// rejects privileged pods. Each test makes its own nodes/labels so files never share capacity.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { addGpuNode, create, KubeError, list, remove, waitFor, type KubeObject } from '../../cluster/client.ts';
import { hasComponent, testCluster, testNamespace } from '../../cluster/testing.ts';

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const suffix = randomBytes(3).toString('hex');
const product = `QWEN-TEST-GPU-${suffix}`.toUpperCase();
const gpuNode = `kwok-gpu-test-${suffix}`;
let ns: string;

function gpuDeployment(name: string, gpus: number): KubeObject {
  return deployment(name, { 'nvidia.com/gpu.product': product }, { limits: { 'nvidia.com/gpu': String(gpus) } });
}

function deployment(name: string, nodeSelector: Record<string, string>, resources: Record<string, unknown>): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: ns, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector,
          containers: [{ name: 'worker', image: 'registry.invalid/qwen-worker:test', resources }],
        },
      },
    },
  };
}

async function podsOf(app: string): Promise<Pod[]> {
  return list<Pod>(testCluster(), 'v1', 'Pod', ns, `app=${app}`);
}

beforeAll(async () => {
  expect(hasComponent('kube-controller-manager') && hasComponent('kube-scheduler') && hasComponent('kwok')).toBe(true);
  ns = await testNamespace('sched');
  await addGpuNode(testCluster(), gpuNode, 2, product);
}, 90_000);

describe('GPU scheduling on kwok nodes', () => {
  test('a Deployment requesting nvidia.com/gpu: 1 gets a Running pod on the GPU node', async () => {
    await create(testCluster(), gpuDeployment('one-gpu', 1));
    const pod = await waitFor('a Running one-gpu pod', async () => (await podsOf('one-gpu')).find((p) => p.status?.phase === 'Running'), 60_000);
    expect(pod.spec.nodeName).toBe(gpuNode);
    expect(pod.status?.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
  }, 90_000);

  test('a Deployment requesting more GPUs than any node has stays Pending as Unschedulable', async () => {
    await create(testCluster(), gpuDeployment('too-many', 64));
    const cond = await waitFor('PodScheduled=False on the too-many pod', async () => {
      const pod = (await podsOf('too-many'))[0];
      return pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    }, 60_000);
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toMatch(/Insufficient nvidia\.com\/gpu/);
    const pod = (await podsOf('too-many'))[0];
    expect(pod?.status?.phase).toBe('Pending');
    expect(pod?.spec.nodeName).toBeUndefined();
  }, 90_000);
});

describe('garbage collection', () => {
  test('deleting a Deployment garbage-collects its ReplicaSets and Pods', async () => {
    const name = 'gc-owner';
    await create(testCluster(), deployment(name, {}, { requests: { cpu: '10m' } }));
    await waitFor('the gc-owner ReplicaSet and Pod', async () =>
      (await list(testCluster(), 'apps/v1', 'ReplicaSet', ns, `app=${name}`)).length > 0 && (await podsOf(name)).length > 0, 60_000);
    await remove(testCluster(), 'apps/v1', 'Deployment', name, ns, 'Background');
    await waitFor('ReplicaSets and Pods of gc-owner to be collected', async () =>
      (await list(testCluster(), 'apps/v1', 'ReplicaSet', ns, `app=${name}`)).length === 0 && (await podsOf(name)).length === 0, 60_000);
  }, 120_000);

  test('an ownerReference on any object is honoured (ConfigMap owning a ConfigMap)', async () => {
    const owner = await create<KubeObject>(testCluster(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner', namespace: ns } });
    await create(testCluster(), {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'dependent', namespace: ns, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }] },
    });
    await remove(testCluster(), 'v1', 'ConfigMap', 'owner', ns, 'Foreground');
    await waitFor('dependent ConfigMap to be collected', async () => (await list(testCluster(), 'v1', 'ConfigMap', ns)).every((c) => c.metadata.name !== 'dependent'), 60_000);
  }, 90_000);
});

describe('PodSecurity admission', () => {
  test('a namespace enforcing "restricted" rejects a privileged pod and admits a compliant one', async () => {
    const restricted = await testNamespace('psa', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' });
    const privileged: KubeObject = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'privileged', namespace: restricted },
      spec: { containers: [{ name: 'c', image: 'registry.invalid/x:1', securityContext: { privileged: true } }] },
    };
    const err = await create(testCluster(), privileged).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(403);
    expect((err as KubeError).message).toMatch(/violates PodSecurity "restricted:latest".*privileged/);

    const compliant: KubeObject = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'compliant', namespace: restricted },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{ name: 'c', image: 'registry.invalid/x:1', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
      },
    };
    await expect(create(testCluster(), compliant)).resolves.toBeTruthy();
  }, 60_000);
});
