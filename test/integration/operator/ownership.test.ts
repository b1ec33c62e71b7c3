// What the operator does with names it does not own, and with applies the apiserver refuses, on a
// real control plane (etcd, kube-apiserver, controller-manager for garbage collection, scheduler,
// kwok nodes): a Service or ConfigMap that already exists under a child's name and is not
// controlled by the QwenService is never written, never gains an ownerReference, and so is never
// pruned or garbage-collected through it (Ready=False/OwnershipConflict and one Warning Event);
// once the owner deletes it, the operator creates its own by itself. The same holds for an object
// created between the operator's cache miss and its create (a create, never an apply, so the
// apiserver answers 409 instead of merging; only then is the name read live). An apply refused by a
// ValidatingAdmissionPolicy (a real admission refusal, 422) is Ready=False/ApplyFailed with the
// apiserver's message, one Warning Event, and retried on a slow backoff, not in a hot loop.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEFAULT_NODES, startCluster, type Cluster } from '../../cluster/cluster.ts';
import { apply, create, get, kubeCall, kubeRequest, list, newNamespace, remove, resourcePath, waitFor, type KubeObject } from '../../cluster/client.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import type { Condition, Qws } from '../../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
type Meta = { uid: string; resourceVersion: string; ownerReferences?: Array<{ uid: string; controller?: boolean; kind: string }>; managedFields?: Array<{ manager: string; operation: string; subresource?: string }> };
type Obj = KubeObject & { metadata: KubeObject['metadata'] & Meta };
type KubeEvent = KubeObject & { reason: string; type: string; message: string; involvedObject: { name: string } };

let cluster: Cluster;
let op: RunningOperator;

const qws = (ns: string, name: string, replicas = 1): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec: { replicas, gpu: { count: 0 }, sla: { latency: { p95: '3s' } } } });
const getQws = (ns: string, name: string) => get<Qws>(cluster, QWS, 'QwenService', name, ns);
const ready = (q: Qws | undefined) => q?.status?.conditions?.find((c) => c.type === 'Ready');

async function waitReady(ns: string, name: string, status: string, reason: string, timeoutMs = 60_000): Promise<Condition> {
  return waitFor(`${ns}/${name} Ready=${status}/${reason}`, async () => {
    const c = ready(await getQws(ns, name));
    return c?.status === status && c.reason === reason ? c : undefined;
  }, timeoutMs, 250);
}

const eventsFor = async (ns: string, name: string, reason: string) =>
  (await list<KubeEvent>(cluster, 'v1', 'Event', ns)).filter((e) => e.involvedObject.name === name && e.reason === reason);

/** Everything about an object that taking it over would change. */
const fingerprint = (o: Obj | undefined) => o && ({
  uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, labels: o.metadata.labels, ownerReferences: o.metadata.ownerReferences,
  managers: o.metadata.managedFields?.map((m) => m.manager), spec: o.spec, data: o.data,
});

beforeAll(async () => {
  cluster = await startCluster({ controllers: true, scheduler: true, kwokNodes: DEFAULT_NODES, crds: ['crds'] });
  op = await startOperator(cluster.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await cluster?.stop();
}, 60_000);

describe('never take over', () => {
  it('leaves a Service and a ConfigMap it does not control untouched, says OwnershipConflict, and they survive the QwenService', async () => {
    const ns = await newNamespace(cluster, 'own-conflict');
    // A team's own Service under the QwenService's name: no operator label, so only a live read finds it.
    await create(cluster, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'chat', namespace: ns, labels: { team: 'b' } }, spec: { selector: { app: 'theirs' }, ports: [{ name: 'web', port: 80, targetPort: 8080 }] } });
    // A ConfigMap under the dashboard's name that even carries the operator's label (so it sits in
    // the operator's cache), but no ownerReference of this QwenService.
    await create(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'chat-dashboard', namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'qwen-operator' } }, data: { mine: 'yes' } });
    const svcBefore = fingerprint(await get<Obj>(cluster, 'v1', 'Service', 'chat', ns));
    const cmBefore = fingerprint(await get<Obj>(cluster, 'v1', 'ConfigMap', 'chat-dashboard', ns));

    await apply(cluster, qws(ns, 'chat'));
    const c = await waitReady(ns, 'chat', 'False', 'OwnershipConflict');
    expect(c.message).toContain(`Service ${ns}/chat already exists and is not controlled by any owner`);
    expect(c.message).toContain(`ConfigMap ${ns}/chat-dashboard already exists`);
    const q = (await getQws(ns, 'chat'))!;
    expect(q.status!.conditions!.find((x) => x.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'OwnershipConflict' });

    // The children whose names are free are created as usual.
    const dep = await waitFor('Deployment', () => get<Obj>(cluster, 'apps/v1', 'Deployment', 'chat', ns), 30_000);
    expect(dep.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'QwenService', uid: q.metadata.uid, controller: true })]);

    // Retries come and go (slow backoff); none of them touches the foreign objects or adds an Event.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(fingerprint(await get<Obj>(cluster, 'v1', 'Service', 'chat', ns))).toEqual(svcBefore);
    expect(fingerprint(await get<Obj>(cluster, 'v1', 'ConfigMap', 'chat-dashboard', ns))).toEqual(cmBefore);
    const events = await eventsFor(ns, 'chat', 'OwnershipConflict');
    expect(events.map((e) => e.type)).toEqual(['Warning']);
    expect(events[0]!.message).toContain(`Service ${ns}/chat`);

    // Deleting the QwenService collects what it controls, and nothing else.
    await remove(cluster, QWS, 'QwenService', 'chat', ns);
    await waitFor('Deployment garbage-collected', async () => (await get(cluster, 'apps/v1', 'Deployment', 'chat', ns)) === undefined, 60_000);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(fingerprint(await get<Obj>(cluster, 'v1', 'Service', 'chat', ns))).toEqual(svcBefore);
    expect(fingerprint(await get<Obj>(cluster, 'v1', 'ConfigMap', 'chat-dashboard', ns))).toEqual(cmBefore);
  }, 150_000);

  it('creates its own child by itself once the foreign object is deleted', async () => {
    const ns = await newNamespace(cluster, 'own-freed');
    await create(cluster, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: ns }, spec: { selector: { app: 'theirs' }, ports: [{ port: 80 }] } });
    // No workers: once the Deployment is created nothing else happens to this QwenService, so
    // no other event can stand in for the retries below.
    await apply(cluster, qws(ns, 'svc', 0));
    await waitReady(ns, 'svc', 'False', 'OwnershipConflict');
    const uid = (await getQws(ns, 'svc'))!.metadata.uid as string;
    await new Promise((r) => setTimeout(r, 3_000));

    // Its owner deletes it. No event reaches the operator for an object it does not watch: its
    // own retries (slow backoff, capped at a minute) find the name free.
    await remove(cluster, 'v1', 'Service', 'svc', ns);
    const svc = await waitFor('the operator\'s own Service', async () => {
      const s = await get<Obj>(cluster, 'v1', 'Service', 'svc', ns);
      return s?.metadata.ownerReferences?.some((r) => r.uid === uid && r.controller) ? s : undefined;
    }, 90_000, 500);
    expect(svc.spec).toMatchObject({ selector: { 'app.kubernetes.io/instance': 'svc', 'app.kubernetes.io/name': 'qwen-worker' } });
    await waitReady(ns, 'svc', 'True', 'ScaledToZero', 30_000);
  }, 150_000);
});

describe('create race', () => {
  it('leaves an object created between its cache miss and the create untouched (OwnershipConflict), and it survives the QwenService', async () => {
    const ns = await newNamespace(cluster, 'own-race');
    const name = 'race-dashboard';
    // A ConfigMap under the dashboard's name whose fields do not overlap the operator's (other
    // data keys, no labels): a server-side apply would merge into it without a conflict and adopt it.
    const theirs = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { theirs: 'yes' } };
    // The real apiserver cannot be made to race on cue, so the race is injected: the object is
    // created the moment the operator, its cache saying the name is free, sends its create.
    let before: ReturnType<typeof fingerprint>;
    const original = op.client.create.bind(op.client);
    op.client.create = (async (obj: KubeObject, ...rest: unknown[]) => {
      if (!before && obj.kind === 'ConfigMap' && obj.metadata.namespace === ns && obj.metadata.name === name) {
        await create(cluster, theirs);
        before = fingerprint(await get<Obj>(cluster, 'v1', 'ConfigMap', name, ns));
      }
      return (original as (...a: unknown[]) => Promise<unknown>)(obj, ...rest);
    }) as typeof op.client.create;
    try {
      await apply(cluster, qws(ns, 'race'));
      const c = await waitReady(ns, 'race', 'False', 'OwnershipConflict');
      expect(before).toBeDefined();
      expect(c.message).toContain(`ConfigMap ${ns}/${name}`);
    } finally {
      op.client.create = original;
    }
    // Later reconciles read it live and leave it alone too.
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await get<Obj>(cluster, 'v1', 'ConfigMap', name, ns);
    expect(after!.metadata.ownerReferences).toBeUndefined();
    expect(fingerprint(after)).toEqual(before);

    // What it did create is created. Its fields are recorded as applied (so a later apply can
    // remove what it no longer renders) before the first apply, not left to the create's Update entry.
    const operations = (o: Obj | undefined) => o?.metadata.managedFields?.filter((m) => m.manager === 'qwen-operator' && !m.subresource).map((m) => m.operation);
    await waitFor('Deployment', () => get<Obj>(cluster, 'apps/v1', 'Deployment', 'race', ns), 30_000);
    await apply(cluster, qws(ns, 'race', 2));
    const dep = await waitFor('Deployment applied', async () => {
      const d = await get<Obj>(cluster, 'apps/v1', 'Deployment', 'race', ns);
      return (d?.spec as { replicas?: number } | undefined)?.replicas === 2 ? d : undefined;
    }, 30_000);
    expect(operations(dep)).toEqual(['Apply']);

    await remove(cluster, QWS, 'QwenService', 'race', ns);
    await waitFor('Deployment garbage-collected', async () => (await get(cluster, 'apps/v1', 'Deployment', 'race', ns)) === undefined, 60_000);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(fingerprint(await get<Obj>(cluster, 'v1', 'ConfigMap', name, ns))).toEqual(before);
  }, 150_000);
});

describe('a new QwenService', () => {
  it('gets each child in one create: no live read of a free name, no record as applied before an apply needs it', async () => {
    const ns = await newNamespace(cluster, 'own-fresh');
    const reads: string[] = [];
    const creates: string[] = [];
    const recorded: string[] = [];
    const { find, create: createChild, recordCreateAsApplied } = op.client;
    op.client.find = ((...a: Parameters<typeof find>) => { if (a[2] === ns) reads.push(a[1]); return find.apply(op.client, a); }) as typeof find;
    op.client.create = ((...a: Parameters<typeof createChild>) => { if (a[0].metadata.namespace === ns && a[0].kind !== 'Event') creates.push(a[0].kind); return createChild.apply(op.client, a); }) as typeof createChild;
    op.client.recordCreateAsApplied = ((...a: Parameters<typeof recordCreateAsApplied>) => { if (a[0].metadata.namespace === ns) recorded.push(a[0].kind); return recordCreateAsApplied.apply(op.client, a); }) as typeof recordCreateAsApplied;
    try {
      await apply(cluster, qws(ns, 'fresh'));
      await waitFor('status written', async () => ((await getQws(ns, 'fresh'))?.status?.conditions?.length ? true : undefined), 60_000);
      await new Promise((r) => setTimeout(r, 2_000));
    } finally {
      Object.assign(op.client, { find, create: createChild, recordCreateAsApplied });
    }
    expect(reads).toEqual([]);
    expect(creates.sort()).toEqual(['ConfigMap', 'Deployment', 'NetworkPolicy', 'Service']);
    expect(recorded).toEqual([]);
  }, 90_000);
});

describe('refused applies', () => {
  const POLICY = 'qwen-test-deny-workers';
  const LABEL = 'qwen-test/deny-workers';

  afterAll(async () => {
    await kubeRequest(cluster, 'DELETE', await resourcePath(cluster, 'admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicyBinding', undefined, POLICY));
    await kubeRequest(cluster, 'DELETE', await resourcePath(cluster, 'admissionregistration.k8s.io/v1', 'ValidatingAdmissionPolicy', undefined, POLICY));
  });

  it('says ApplyFailed with the apiserver\'s message, records one Event, backs off, and converges once the refusal ends', async () => {
    // A real refusal from the apiserver's admission chain: a ValidatingAdmissionPolicy that denies
    // worker Deployments in namespaces carrying a label (a policy a cluster admin could have).
    await apply(cluster, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: POLICY },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }] },
        validations: [{ expression: `!has(object.metadata.labels) || !('qwenops.io/qwenservice' in object.metadata.labels)`, message: 'worker Deployments are not allowed in this namespace (test policy)' }],
      },
    });
    await apply(cluster, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: POLICY },
      spec: { policyName: POLICY, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { [LABEL]: 'true' } } } },
    });
    const ns = await newNamespace(cluster, 'own-refused', { [LABEL]: 'true' });
    // The policy is in force once a dry run of such a Deployment is refused.
    const probe = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'probe', namespace: ns, labels: { 'qwenops.io/qwenservice': 'probe' } }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
    await waitFor('policy in force', async () => (await kubeRequest(cluster, 'POST', await resourcePath(cluster, 'apps/v1', 'Deployment', ns), probe, { query: { dryRun: 'All' } })).status === 422, 30_000);

    // The Deployment never exists, so every attempt is a create.
    const attempts: number[] = [];
    const original = op.client.create.bind(op.client);
    op.client.create = ((obj: KubeObject, ...rest: unknown[]) => {
      if (obj.kind === 'Deployment' && obj.metadata.namespace === ns) attempts.push(Date.now());
      return (original as (...a: unknown[]) => Promise<unknown>)(obj, ...rest);
    }) as typeof op.client.create;
    try {
      await apply(cluster, qws(ns, 'refused'));
      const c = await waitReady(ns, 'refused', 'False', 'ApplyFailed');
      expect(c.message).toContain(`the apiserver refused Deployment ${ns}/refused`);
      expect(c.message).toContain('worker Deployments are not allowed in this namespace (test policy)');
      // Everything else was applied.
      expect(await get(cluster, 'v1', 'Service', 'refused', ns)).toBeDefined();

      // No hot loop: over 12 s, a handful of attempts (1 s, 2 s, 4 s, 8 s apart), not hundreds.
      const first = attempts[0]!;
      await new Promise((r) => setTimeout(r, Math.max(0, first + 12_000 - Date.now())));
      const inWindow = attempts.filter((t) => t <= first + 12_000).length;
      expect(inWindow).toBeGreaterThanOrEqual(2);
      expect(inWindow).toBeLessThanOrEqual(6);
      const events = await eventsFor(ns, 'refused', 'ApplyFailed');
      expect(events.map((e) => e.type)).toEqual(['Warning']);
      expect(events[0]!.message).toContain('worker Deployments are not allowed');

      // The refusal ends (the namespace leaves the policy's scope): the next retry converges.
      await kubeCall(cluster, 'PATCH', `/api/v1/namespaces/${ns}`, { metadata: { labels: { [LABEL]: null } } }, { contentType: 'application/merge-patch+json' });
      await waitFor('Deployment created', () => get(cluster, 'apps/v1', 'Deployment', 'refused', ns), 90_000, 500);
      await waitReady(ns, 'refused', 'True', 'AllWorkersReady', 60_000);
    } finally {
      op.client.create = original;
    }
  }, 180_000);
});
