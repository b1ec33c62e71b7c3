// Scale to zero through the router's external push scaler, on real KEDA (built from its Go module,
// see test/support/keda.ts): KEDA's operator runs on the host's loopback, so the ScaledObject's
// `external-push` trigger names the scaler at 127.0.0.1:<port>, served in-process by router/src/scaler.ts
// with a LoadCounter the test drives (standing for requests held by a router with no ready worker).
// kube-controller-manager's HPA controller and kwok do the rest.
//   idle      a new ScaledObject with nothing held -> the Deployment goes to 0 at KEDA's first check
//   activate  held 0 -> 1 -> 1 replica through StreamIsActive alone: pollingInterval is 5 minutes
//             here, so only the push can do it within the test's limits. The latency is logged.
//   scale     held 3 with targetInFlight 1 -> the HPA (through KEDA's metrics adapter: GetMetricSpec,
//             GetMetrics) asks for 3
//   idle      held -> 0 -> back to 0 after cooldownPeriod (KEDA ignores inactive pushes and scales in
//             through its polling: the test shortens pollingInterval for this phase)
//   peer      a request held at another router replica (an HTTP server answering PEER_LOAD_PATH, as a
//             replica's admin port does) activates it too: KEDA talks to one replica only
// Self-contained on purpose: the integrator extends it to go through the operator's rendered objects
// and a real worker behind the router.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { frontProxyArgs } from '../cluster/aggregation.ts';
import { apply, get, newNamespace, waitFor, type KubeObject } from '../cluster/client.ts';
import { KEDA_CRDS, startKeda, type Keda } from '../support/keda.ts';
import { LoadCounter } from '../../router/src/load.ts';
import { startScaler, type RunningScaler } from '../../router/src/scaler.ts';
import { PEER_LOAD_PATH, SCALER_METRIC_NAME } from '../../router/src/contract.ts';
import { staticEndpoints } from '../../router/src/endpoints.ts';
import { pollPeerLoads, type PeerLoads } from '../../router/src/peers.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const COOLDOWN_S = 10;
const log = (m: string) => process.stderr.write(`[e2e scale-to-zero ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

type Deployment = KubeObject & { spec: { replicas?: number }; status?: { readyReplicas?: number } };
type Hpa = KubeObject & { spec: { minReplicas: number; maxReplicas: number; metrics: { external?: { metric: { name: string }; target: { type: string; averageValue?: string } } }[] }; status?: { desiredReplicas?: number } };
type ScaledObject = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

describe('scale to zero through the external push scaler, on real KEDA', () => {
  let cluster: Cluster;
  let keda: Keda | undefined;
  let scaler: RunningScaler | undefined;
  let peers: PeerLoads | undefined;
  let peer: Server | undefined;
  let peerLoad = { inFlight: 0, held: 0 };
  const load = new LoadCounter();
  let ns: string;
  const dir = mkdtempSync(join(tmpdir(), 'qwen-e2e-scale-to-zero-'));

  const deployment = () => get<Deployment>(cluster, 'apps/v1', 'Deployment', 'workers', ns);
  const replicas = async () => (await deployment())?.spec.replicas;
  /** The trigger the operator renders beside its Prometheus triggers (here alone). */
  const scaledObject = (pollingIntervalS: number): KubeObject => ({
    apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'workers', namespace: ns },
    spec: {
      scaleTargetRef: { name: 'workers' }, minReplicaCount: 0, maxReplicaCount: 3,
      pollingInterval: pollingIntervalS, cooldownPeriod: COOLDOWN_S,
      triggers: [{ type: 'external-push', metadata: { scalerAddress: `127.0.0.1:${scaler!.port}`, targetInFlight: '1' } }],
    },
  } as KubeObject);

  beforeAll(async () => {
    const t0 = Date.now();
    if (!existsSync(join(KEDA_CRDS, 'keda.sh_scaledobjects.yaml'))) throw new Error(`${KEDA_CRDS} missing: run scripts/setup.sh`);
    cluster = await startCluster({
      controllers: true, scheduler: true,
      // The HPA controller, syncing every 2 s (default 15 s) so the test waits less.
      extraControllers: ['horizontalpodautoscaling'], controllerManagerArgs: ['--horizontal-pod-autoscaler-sync-period=2s'],
      kwokNodes: [{ name: 'kwok-cpu-0' }],
      apiserverArgs: frontProxyArgs(join(dir, 'front-proxy')),
      crds: [KEDA_CRDS],
    });
    ns = await newNamespace(cluster, 'scale-to-zero');
    keda = await startKeda(cluster, join(dir, 'keda'));
    peer = createServer((req, res) => { res.writeHead(req.url === PEER_LOAD_PATH ? 200 : 404).end(JSON.stringify(peerLoad)); });
    await new Promise<void>((r) => peer!.listen(0, '127.0.0.1', r));
    peers = pollPeerLoads({ source: staticEndpoints([`http://127.0.0.1:${(peer.address() as AddressInfo).port}`]) });
    scaler = await startScaler({ port: 0, host: '127.0.0.1', load, peers, heartbeatMs: 5_000 });
    // Up at 1, as a freshly rendered Deployment is: KEDA must take it to 0.
    await apply(cluster, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'workers', namespace: ns },
      spec: {
        replicas: 1, selector: { matchLabels: { app: 'workers' } },
        template: { metadata: { labels: { app: 'workers' } }, spec: { containers: [{ name: 'worker', image: 'qwen-worker:test' }] } },
      },
    } as KubeObject);
    await waitFor('the Deployment running 1 pod', async () => (await deployment())?.status?.readyReplicas === 1, 60_000, 500);
    log(`control plane + KEDA + scaler up in ${Math.round((Date.now() - t0) / 1000)} s (run dir ${dir})`);
  }, 300_000);

  afterAll(async () => {
    await scaler?.close();
    peers?.close();
    peer?.close();
    await keda?.stop();
    await cluster?.stop();
  }, 90_000);

  it('idle: KEDA takes the Deployment to 0 and reports the ScaledObject Ready', async () => {
    await apply(cluster, scaledObject(300));
    await waitFor('Deployment at 0', async () => (await replicas()) === 0, 60_000, 500);
    // (Not its Active condition: KEDA's first check can write it before the reconciler has set the
    // conditions up, and then it stays Unknown until the next poll, 5 minutes later here.)
    await waitFor('ScaledObject Ready', async () => {
      const c = (await get<ScaledObject>(cluster, 'keda.sh/v1alpha1', 'ScaledObject', 'workers', ns))?.status?.conditions;
      return c?.find((x) => x.type === 'Ready')?.status === 'True';
    }, 60_000, 500);
  }, 120_000);

  it('activate: one held request takes it from 0 to 1 through StreamIsActive, long before KEDA would poll', async () => {
    const t0 = Date.now();
    load.add('held', 1);
    await waitFor('Deployment at 1', async () => (await replicas()) === 1, 60_000, 50);
    const activated = Date.now() - t0;
    await waitFor('its pod ready', async () => (await deployment())?.status?.readyReplicas === 1, 60_000, 50);
    log(`activation: held 0->1 to Deployment replicas 1 in ${activated} ms, pod ready (kwok) after ${Date.now() - t0} ms`);
    // (pollingInterval is 300 s and KEDA checked once when the ScaledObject came: no poll did this.)
    const active = await waitFor('ScaledObject Active', async () => (await get<ScaledObject>(cluster, 'keda.sh/v1alpha1', 'ScaledObject', 'workers', ns))?.status?.conditions?.find((x) => x.type === 'Active'), 30_000, 500);
    expect(active.status).toBe('True');
  }, 120_000);

  it('scale: GetMetricSpec and GetMetrics reach the HPA through KEDA\'s metrics adapter', async () => {
    const hpa = await waitFor('KEDA\'s HPA', () => get<Hpa>(cluster, 'autoscaling/v2', 'HorizontalPodAutoscaler', 'keda-hpa-workers', ns), 60_000, 500);
    expect(hpa.spec).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
    // KEDA names the metric s<trigger index>-<our metric name>; AverageValue of targetInFlight.
    expect(hpa.spec.metrics[0]!.external).toMatchObject({ metric: { name: `s0-${SCALER_METRIC_NAME}` }, target: { type: 'AverageValue', averageValue: '1' } });
    load.add('held', 2);
    await waitFor('HPA desired 3', async () => (await get<Hpa>(cluster, 'autoscaling/v2', 'HorizontalPodAutoscaler', 'keda-hpa-workers', ns))?.status?.desiredReplicas === 3, 90_000, 500);
    await waitFor('Deployment at 3', async () => (await replicas()) === 3, 30_000, 500);
  }, 150_000);

  it('idle again: nothing held -> back to 0 after cooldownPeriod', async () => {
    const t0 = Date.now();
    load.add('held', -3);
    // KEDA ignores inactive pushes: scale-in waits for its polling, shortened here.
    await apply(cluster, scaledObject(5));
    await waitFor('Deployment at 0', async () => (await replicas()) === 0, 90_000, 500);
    log(`scale-in: idle to Deployment replicas 0 in ${Date.now() - t0} ms (cooldownPeriod ${COOLDOWN_S} s, pollingInterval 5 s)`);
  }, 120_000);

  it('peer: a request held at another router replica activates it too', async () => {
    // Back to a 5-minute pollingInterval (KEDA restarts its loop, checks once: idle, stays at 0).
    await apply(cluster, scaledObject(300));
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await replicas()).toBe(0);
    const t0 = Date.now();
    peerLoad = { inFlight: 0, held: 1 };
    await waitFor('Deployment at 1', async () => (await replicas()) === 1, 60_000, 50);
    log(`activation by a peer's held request: ${Date.now() - t0} ms (peers polled every 1 s)`);
  }, 120_000);
});
