// Our rendered worker (src/render/workload.ts) against the real scheduler and PodSecurity
// admission, with no operator in between: on tainted fake GPU nodes (kwok) a worker asking for
// GPUs of a product runs on a node of that product, one asking for a product no node has or for
// more GPUs than any node holds stays Pending as Unschedulable; and the rendered pod is admitted
// by a namespace enforcing "restricted", where a privileged pod is refused. Each file makes its own
// nodes, labels and taint, so no other file's pods take this file's GPUs.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { renderDeployment } from '../../../src/render/workload.ts';
import { addGpuNode, create, KubeError, list, waitFor, type KubeObject } from '../../cluster/client.ts';
import { hasComponent, testCluster, testNamespace } from '../../cluster/testing.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}
type Template = { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };

const suffix = randomBytes(3).toString('hex');
const product = `QWEN-TEST-GPU-${suffix}`.toUpperCase();
const gpuNode = `kwok-gpu-test-${suffix}`;
/** Only this file's pods tolerate it (through spec.tolerations); the GPU taint they tolerate because we render it. */
const fileTaint = { key: `qwen-test/sched-${suffix}`, effect: 'NoSchedule' as const };
let ns: string;

const qws = (name: string, spec: Record<string, unknown>) =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace: ns, uid: `uid-${name}` }, spec });

/** The worker Deployment as we render it, without the owner reference (no QwenService exists here). */
function workerDeployment(name: string, spec: Record<string, unknown>): KubeObject {
  const dep = renderDeployment(resolvePlan(qws(name, { tolerations: [{ key: fileTaint.key, operator: 'Exists', effect: fileTaint.effect }], ...spec }), defaultRenderConfig));
  return { ...dep, metadata: { ...dep.metadata, ownerReferences: [] } };
}

async function podsOf(name: string): Promise<Pod[]> {
  return list<Pod>(testCluster(), 'v1', 'Pod', ns, `app.kubernetes.io/instance=${name}`);
}

async function unschedulable(name: string): Promise<{ reason?: string; message?: string }> {
  return waitFor(`PodScheduled=False on the ${name} pod`, async () => {
    const pod = (await podsOf(name))[0];
    return pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  }, 60_000);
}

beforeAll(async () => {
  expect(hasComponent('kube-controller-manager') && hasComponent('kube-scheduler') && hasComponent('kwok')).toBe(true);
  ns = await testNamespace('sched');
  await addGpuNode(testCluster(), gpuNode, 2, product, { taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }, fileTaint] });
}, 90_000);

describe('our worker on tainted GPU nodes', () => {
  test('gpu.count 1 of the node\'s product: Running on that node (GPU limit, GPU toleration, product affinity)', async () => {
    await create(testCluster(), workerDeployment('one-gpu', { gpu: { count: 1, product } }));
    const pod = await waitFor('a Running one-gpu pod', async () => (await podsOf('one-gpu')).find((p) => p.status?.phase === 'Running'), 60_000);
    expect(pod.spec.nodeName).toBe(gpuNode);
  }, 90_000);

  test('a product no node has: Pending as Unschedulable on node affinity', async () => {
    await create(testCluster(), workerDeployment('other-product', { gpu: { count: 1, product: `${product}-NONE` } }));
    const cond = await unschedulable('other-product');
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toMatch(/didn't match Pod's node affinity\/selector/);
    expect((await podsOf('other-product'))[0]?.spec.nodeName).toBeUndefined();
  }, 90_000);

  test('more GPUs than the node holds: Pending as Unschedulable on nvidia.com/gpu', async () => {
    await create(testCluster(), workerDeployment('too-many', { gpu: { count: 3, product } }));
    const cond = await unschedulable('too-many');
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toMatch(/Insufficient nvidia\.com\/gpu/);
    const pod = (await podsOf('too-many'))[0];
    expect(pod?.status?.phase).toBe('Pending');
    expect(pod?.spec.nodeName).toBeUndefined();
  }, 90_000);
});

describe('PodSecurity "restricted"', () => {
  test.each([
    ['CPU worker', { gpu: { count: 0 } }],
    ['GPU worker with an API key Secret, a model from a PVC and a PVC cache', { gpu: { count: 1 }, auth: { apiKey: { secretKeyRef: { name: 'keys', key: 'k' } } }, model: { source: 'pvc://models/qwen/q4.gguf' }, modelCache: { persistentVolumeClaim: 'cache' } }],
  ])('admits our rendered pod (%s) where a privileged pod is refused', async (_name, spec) => {
    const restricted = await testNamespace('psa', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' });
    // The control: the namespace does enforce.
    const privileged: KubeObject = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'privileged', namespace: restricted },
      spec: { containers: [{ name: 'c', image: 'registry.invalid/x:1', securityContext: { privileged: true } }] },
    };
    const err = await create(testCluster(), privileged).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(403);
    expect((err as KubeError).message).toMatch(/violates PodSecurity "restricted:latest".*privileged/);

    const template = (renderDeployment(resolvePlan(qws('worker', spec), defaultRenderConfig)).spec as { template: Template }).template;
    const ours: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'worker', namespace: restricted, labels: template.metadata.labels }, spec: template.spec };
    await expect(create(testCluster(), ours)).resolves.toBeTruthy();
  }, 60_000);
});
