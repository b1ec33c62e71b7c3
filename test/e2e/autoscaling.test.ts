// spec.autoscaling end to end on real parts: the operator renders a ScaledObject; KEDA's operator
// (built from its Go module) turns it into an HPA and runs its Prometheus scaler against a real
// Prometheus 3 scraping a real worker; KEDA's metrics adapter serves external.metrics.k8s.io
// through the apiserver's aggregation layer (front-proxy certificates, an APIService, the adapter
// in a network namespace of its own: see test/cluster/aggregation.ts); kube-controller-manager's
// horizontalpodautoscaling controller reads it and scales the Deployment; kwok runs the pods.
//
// How one real worker stands for the service: the triggers sum over the series Prometheus holds
// for the service's namespace/service labels, and only the real worker is scraped (with a
// ServiceMonitor's target labels). The extra pods the HPA asks for are kwok's: Ready, but with no
// metrics, exactly like freshly started workers with nothing in flight. So "in flight" is the real
// worker's running + waiting, and the burn is computed from the real worker's histograms by the
// operator's own PrometheusRule.
//   queue  load above targetInFlightPerReplica -> desired replicas above minReplicas
//   down   load stops -> back to minReplicas after the (shortened) stabilization window
//   burn   a TTFT objective no CPU can meet, one request at a time (a queue far below its target)
//          -> scale-out on the SLO burn alone, and no scale-in past the stabilization window while it burns
// Both QwenServices are scraped from the one worker (one model load).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { frontProxyArgs } from '../cluster/aggregation.ts';
import { apply, get, kubeCall, list, newNamespace, waitFor, type KubeObject } from '../cluster/client.ts';
import { cacheDir } from '../support/tools.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { KEDA_CRDS, startKeda, type Keda } from '../support/keda.ts';
import { startPrometheus, type Prometheus } from './support/monitoring.ts';
import { deploymentArgs, flagValue, ruleGroupsOf, startLocalWorker, steadyLoad, type Load, type LocalWorker } from './support/pipeline.ts';
import type { Qws } from '../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
const MODEL = 'gemma3-270m';
const STABILIZATION_S = 15;
const model = { source: 'file:///models/gemma-3-270m-q4_k_m.gguf', name: MODEL, contextSize: 1024, parallel: 2 };
// queue: no SLA, so only the queue trigger; at most 2 requests in flight per worker.
const QUEUE = { model, gpu: { count: 0 }, autoscaling: { minReplicas: 1, maxReplicas: 3, targetInFlightPerReplica: 2, scaleDownStabilization: `${STABILIZATION_S}s` } };
// burn: TTFT p95 <= 10ms (no CPU does that), and a queue target nothing here reaches.
const BURN = { model, gpu: { count: 0 }, sla: { window: '7d', timeToFirstToken: { p95: '10ms' } }, autoscaling: { minReplicas: 1, maxReplicas: 3, targetInFlightPerReplica: 64, scaleDownStabilization: `${STABILIZATION_S}s` } };

type Hpa = KubeObject & { spec: { minReplicas: number; maxReplicas: number; metrics: { external?: { metric: { name: string; selector?: { matchLabels?: Record<string, string> } } } }[] }; status?: { currentReplicas?: number; desiredReplicas?: number; currentMetrics?: { external?: { current: { value?: string; averageValue?: string } } }[] } };
const log = (m: string) => process.stderr.write(`[e2e autoscaling ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

describe('autoscaling on KEDA, end to end', () => {
  let cluster: Cluster;
  let keda: Keda | undefined;
  let op: RunningOperator | undefined;
  let prom: Prometheus | undefined;
  let worker: LocalWorker | undefined;
  let load: Load | undefined;
  let ns: string;
  const dir = mkdtempSync(join(tmpdir(), 'qwen-e2e-autoscaling-'));
  const target = (service: string) => ({ address: new URL(worker!.url).host, namespace: ns, service, pod: `${service}-real` });

  const hpa = (name: string) => get<Hpa>(cluster, 'autoscaling/v2', 'HorizontalPodAutoscaler', `keda-hpa-${name}`, ns);
  const replicas = async (name: string) => (await get<KubeObject & { spec: { replicas?: number } }>(cluster, 'apps/v1', 'Deployment', name, ns))?.spec.replicas;
  const readyPods = async (name: string) => (await list<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(cluster, 'v1', 'Pod', ns, `app.kubernetes.io/instance=${name}`))
    .filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  /** What the HPA controller reads: KEDA's external metric for trigger `index` (0 queue, 1 burn), through the aggregation layer. */
  const externalMetric = async (name: string, index: number): Promise<number> => {
    const h = (await hpa(name))!;
    // KEDA names each trigger's metric s<trigger index>-<scaler>, e.g. s1-prometheus.
    const m = h.spec.metrics.map((x) => x.external?.metric).find((x) => x?.name.startsWith(`s${index}-`))!;
    const sel = Object.entries(m.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const r = await kubeCall(cluster, 'GET', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${ns}/${m.name}?labelSelector=${encodeURIComponent(sel)}`) as { items: { value: string }[] };
    const v = r.items[0]!.value;
    return v.endsWith('m') ? Number(v.slice(0, -1)) / 1000 : Number(v);
  };

  beforeAll(async () => {
    const t0 = Date.now();
    for (const f of [join(KEDA_CRDS, 'keda.sh_scaledobjects.yaml'), join(cacheDir, 'prometheus-operator-crds')]) if (!existsSync(f)) throw new Error(`${f} missing: run scripts/setup.sh`);
    cluster = await startCluster({
      controllers: true, scheduler: true,
      // The HPA controller, syncing every 2 s (default 15 s) so the test waits less.
      extraControllers: ['horizontalpodautoscaling'], controllerManagerArgs: ['--horizontal-pod-autoscaler-sync-period=2s'],
      kwokNodes: [{ name: 'kwok-cpu-0' }, { name: 'kwok-cpu-1' }],
      apiserverArgs: frontProxyArgs(join(dir, 'front-proxy')),
      crds: [join(process.cwd(), 'crds'), join(cacheDir, 'prometheus-operator-crds'), KEDA_CRDS],
    });
    ns = await newNamespace(cluster, 'autoscale');
    keda = await startKeda(cluster, join(dir, 'keda'));
    log(`control plane + KEDA (adapter at ${keda.netns.address} in netns ${keda.netns.name}) up in ${Math.round((Date.now() - t0) / 1000)} s`);
    prom = await startPrometheus({ dir: join(dir, 'prom'), targets: [] });
    op = await startOperator(cluster.kubeconfigPath, { namespaces: [ns], monitoringCheckIntervalMs: 1_000, config: { prometheusURL: prom.url } });
    for (const [name, spec] of [['queue', QUEUE], ['burn', BURN]] as const) await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec });

    // What prometheus-operator would do with our objects: the burn service's rules, the scrape targets.
    await waitFor('PrometheusRule for burn', () => list(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', ns, 'qwenops.io/qwenservice=burn').then((l) => l.length > 0), 60_000);
    const buckets = new Set<string>();
    for (const name of ['queue', 'burn']) {
      await waitFor(`Deployment ${name}`, () => get(cluster, 'apps/v1', 'Deployment', name, ns), 60_000);
      for (const b of (flagValue(await deploymentArgs(cluster, ns, name), '--slo-buckets') ?? '').split(',').filter(Boolean)) buckets.add(b);
    }
    worker = await startLocalWorker({ dir, sloBuckets: [...buckets].join(','), modelName: MODEL, parallel: 2 });
    await prom.setRules(await ruleGroupsOf(cluster, ns, 'burn'));
    // The burn service is scraped from its own test on: the queue test's load breaches its TTFT
    // objective too, and its burn must start from nothing there.
    await prom.setTargets([target('queue')]);
    await fetch(`${worker.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'Hi', max_tokens: 2 }) });
    for (const name of ['queue', 'burn']) await waitFor(`HPA for ${name}`, () => hpa(name), 60_000, 500);
    log(`pipeline up in ${Math.round((Date.now() - t0) / 1000)} s (run dir ${dir})`);
  }, 420_000);

  afterAll(async () => {
    await load?.stop().catch(() => {});
    await worker?.kill();
    await op?.stop();
    await prom?.stop();
    await keda?.stop();
    await cluster?.stop();
  }, 90_000);

  it('KEDA made an HPA from our ScaledObject: min/max, behaviour, both triggers; AutoscalingReady mirrors KEDA', async () => {
    const h = (await hpa('burn'))!;
    expect(h.spec).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
    expect(h.spec.metrics).toHaveLength(2);
    expect((h.spec as { behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } } }).behavior?.scaleDown?.stabilizationWindowSeconds).toBe(STABILIZATION_S);
    expect((h.metadata as { ownerReferences?: { kind: string; name: string }[] }).ownerReferences?.[0]).toMatchObject({ kind: 'ScaledObject', name: 'burn' });
    const c = await waitFor('AutoscalingReady=True (KEDA Ready)', async () => {
      const x = (await get<Qws>(cluster, QWS, 'QwenService', 'burn', ns))?.status?.conditions?.find((y) => y.type === 'AutoscalingReady');
      return x?.status === 'True' ? x : undefined;
    }, 60_000, 1_000);
    expect(c.message).toContain('Ready=True');
    // The HPA reads our queue query through the aggregation layer: nothing in flight now.
    // (The warm-up request may still be counted for a scrape or two.)
    await waitFor('external metric served, 0 in flight', async () => (await externalMetric('queue', 0).catch(() => undefined)) === 0, 60_000, 1_000);
  }, 120_000);

  it('queue: load above targetInFlightPerReplica scales out above minReplicas', async () => {
    // Up to 6 long streams against a worker decoding 2 at a time: ~2 running + up to 4 waiting.
    load = steadyLoad(worker!.url, { model: MODEL, periodMs: 100, maxTokens: 200, concurrency: 6 });
    const started = Date.now();
    const seen = await waitFor('queue metric above the target', async () => { const v = await externalMetric('queue', 0).catch(() => 0); return v > QUEUE.autoscaling.targetInFlightPerReplica ? v : undefined; }, 60_000, 1_000);
    log(`queue: KEDA reports ${seen} requests in flight (target ${QUEUE.autoscaling.targetInFlightPerReplica} per worker)`);
    const desired = await waitFor('HPA desired > minReplicas', async () => { const d = (await hpa('queue'))?.status?.desiredReplicas ?? 0; return d > 1 ? d : undefined; }, 90_000, 1_000);
    await waitFor('Deployment scaled by the HPA', async () => ((await replicas('queue')) ?? 0) > 1, 30_000, 500);
    await waitFor('kwok runs the extra pods', async () => (await readyPods('queue')) > 1, 60_000, 1_000);
    log(`queue: HPA desired ${desired} after ${Math.round((Date.now() - started) / 1000)} s; ${load.stats.ok} requests done`);
    expect(desired).toBeLessThanOrEqual(QUEUE.autoscaling.maxReplicas);
    await waitFor('status.autoscaling.desiredReplicas follows', async () => ((await get<Qws>(cluster, QWS, 'QwenService', 'queue', ns))?.status?.autoscaling?.desiredReplicas ?? 0) > 1, 30_000, 1_000);
  }, 240_000);

  it('down: when the load stops, replicas return to minReplicas after the stabilization window', async () => {
    await load!.stop();
    load = undefined;
    const stopped = Date.now();
    await waitFor('queue metric back to 0', async () => (await externalMetric('queue', 0).catch(() => 1)) === 0, 60_000, 1_000);
    expect(await replicas('queue')).toBeGreaterThan(1);
    await waitFor('Deployment back at minReplicas', async () => (await replicas('queue')) === 1, 180_000, 1_000);
    const s = (Date.now() - stopped) / 1000;
    log(`down: back to 1 replica ${Math.round(s)} s after the load stopped (stabilization ${STABILIZATION_S} s)`);
    // Not before the window: the HPA keeps the highest recommendation of the last 15 s (the queue
    // read high until the load stopped, give or take one 2 s HPA sync).
    expect(s).toBeGreaterThanOrEqual(STABILIZATION_S - 3);
  }, 240_000);

  it('burn: a breached TTFT SLO with a short queue also scales out', async () => {
    expect(await replicas('burn')).toBe(1);
    await prom!.setTargets([target('queue'), target('burn')]);
    // One request at a time: in flight <= 1, far below the target of 64 per worker.
    load = steadyLoad(worker!.url, { model: MODEL, periodMs: 200, maxTokens: 4, concurrency: 1 });
    const burn = await waitFor('burn above 1 (KEDA, through the aggregation layer)', async () => { const v = await externalMetric('burn', 1).catch(() => 0); return v > 1 ? v : undefined; }, 120_000, 1_000);
    const queue = await externalMetric('burn', 0);
    log(`burn: KEDA reports burn ${burn} with ${queue} in flight`);
    expect(queue).toBeLessThanOrEqual(1);
    const desired = await waitFor('HPA desired > minReplicas', async () => { const d = (await hpa('burn'))?.status?.desiredReplicas ?? 0; return d > 1 ? d : undefined; }, 60_000, 1_000);
    await waitFor('Deployment scaled by the HPA', async () => ((await replicas('burn')) ?? 0) > 1, 30_000, 500);
    expect(desired).toBeLessThanOrEqual(BURN.autoscaling.maxReplicas);
    // No scale-in while it burns, though the queue alone asks for 1: past the stabilization
    // window the burn still holds the count (the HPA takes the largest proposal).
    await new Promise((r) => setTimeout(r, (STABILIZATION_S + 6) * 1000));
    expect(await replicas('burn')).toBeGreaterThan(1);
    expect(await externalMetric('burn', 1)).toBeGreaterThan(1);
    // The queue service, scraped from the same worker, did not move: only the burn scaled.
    expect(await replicas('queue')).toBe(1);
    // KEDA's scalers ran our queries without an error (a PromQL error would be logged here). Not
    // counted: KEDA's own retries of a ScaledObject reconciled before its Deployment reached KEDA's
    // informer cache (`deployments.apps "<name>" not found`, once, at creation; seen in CI), and of
    // its finalizer update racing a write of ours (e.g. the managedFields conversion of
    // KubeClient.recordCreateAsApplied before a first apply): an optimistic-concurrency conflict, retried.
    const cacheLag = (l: string) => /"error":"deployments\.apps \\"(queue|burn)\\" not found"/.test(l);
    const conflict = (l: string) => /"error":"Operation cannot be fulfilled on scaledobjects\.keda\.sh \\"(queue|burn)\\": the object has been modified/.test(l);
    const errors = readFileSync(keda!.operatorLog, 'utf8').split('\n').filter((l) => l.includes('"level":"error"') && !cacheLag(l) && !conflict(l)).map((l) => l.slice(0, 300));
    expect(errors).toEqual([]);
  }, 240_000);
});
