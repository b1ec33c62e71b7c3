// The reconciler against a QwenService cache that has not yet seen the operator's own status
// write, on the real apiserver. An informer shows that only by timing (CI once announced
// WaitingForGPU twice when two reconciles ran before the watch delivered the first status), so
// here the QwenService and pod caches are frozen snapshots — a fake standing in for a watch
// that lags, and the only one: the status writes, children and Events are the apiserver's.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { pino } from 'pino';
import { apply, get, installCrds, list, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testKubeConfig, testNamespace } from '../../cluster/testing.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import { Reconciler } from '../../../src/controller/reconciler.ts';
import { EventRecorder } from '../../../src/controller/events.ts';
import { WriteEchoes } from '../../../src/controller/echo.ts';
import type { Cache } from '../../../src/controller/informer.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import type { Qws } from '../../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
type KubeEvent = KubeObject & { reason: string; involvedObject: { name: string } };

/** A cache that answers with the snapshot it was given, whatever happened since. */
function frozen(objects: KubeObject[], index: (o: KubeObject) => string | undefined = () => undefined): Cache {
  return {
    get: (namespace, name) => objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name),
    list: (namespace) => objects.filter((o) => namespace === undefined || o.metadata.namespace === namespace),
    byIndex: (value) => objects.filter((o) => index(o) === value),
  };
}

let ns: string;
beforeAll(async () => {
  await installCrds(testCluster(), [join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml')]);
  ns = await testNamespace('stale-cache');
}, 60_000);

describe('a QwenService cache one status write behind', () => {
  it('announces WaitingForGPU once and keeps its lastTransitionTime across reconciles', async () => {
    await apply(testCluster(), { apiVersion: QWS, kind: 'QwenService', metadata: { name: 'big', namespace: ns }, spec: { gpu: { count: 8 } } });
    const created = (await get<Qws>(testCluster(), QWS, 'QwenService', 'big', ns))!;
    // What the scheduler writes on a worker that no node can hold.
    const pod: KubeObject = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'big-7c4d878f69-m7hmm', namespace: ns, labels: { 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'big', 'qwenops.io/qwenservice': 'big' } },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.' }] },
    };
    const client = new KubeClient(testKubeConfig());
    const reconciler = new Reconciler({
      client, config: { ...defaultRenderConfig, workerImage: 'qwen-worker:test' }, events: new EventRecorder(client), echoes: new WriteEchoes(),
      log: pino({ level: process.env.QWEN_TEST_LOG ?? 'silent' }),
      caches: { qwenServices: frozen([created]), pods: frozen([pod], (p) => `${p.metadata.namespace}/${p.metadata.labels?.['qwenops.io/qwenservice']}`), owned: new Map() },
    });

    const first = await reconciler.reconcile(`${ns}/big`);
    expect(first.statusWritten).toBe(true);
    const written = (await get<Qws>(testCluster(), QWS, 'QwenService', 'big', ns))!;
    const degraded = written.status?.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'WaitingForGPU' });

    // Twice more before the (frozen) cache catches up: nothing new to say, nothing to write.
    await new Promise((r) => setTimeout(r, 1_100)); // a later second, so a restarted lastTransitionTime would show
    expect((await reconciler.reconcile(`${ns}/big`)).statusWritten).toBe(false);
    expect((await reconciler.reconcile(`${ns}/big`)).statusWritten).toBe(false);

    const events = (await list<KubeEvent>(testCluster(), 'v1', 'Event', ns)).filter((e) => e.involvedObject.name === 'big' && e.reason === 'WaitingForGPU');
    expect(events).toHaveLength(1);
    const after = (await get<Qws>(testCluster(), QWS, 'QwenService', 'big', ns))!;
    expect(after.status?.conditions?.find((c) => c.type === 'Degraded')?.lastTransitionTime).toBe(degraded!.lastTransitionTime);
    expect(after.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
  }, 60_000);
});
