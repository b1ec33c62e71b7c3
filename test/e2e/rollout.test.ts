// spec.rollout end to end on real parts: the operator renders a Rollout (workloadRef to the worker
// Deployment) and AnalysisTemplates; the Argo Rollouts controller (built from its Go module) runs
// the canary steps on the test control plane (kube-controller-manager's ReplicaSet controller,
// kwok's nodes) and its AnalysisRuns query a real Prometheus 3 that evaluates the operator's own
// PrometheusRule on two real workers' metrics.
//
// How two local workers stand for the pods: Argo's ReplicaSets run kwok pods (Ready, no process);
// one real worker is started per version, with the arguments of the pod template that version
// has, and Prometheus scrapes it with the labels the ServiceMonitor gives those pods — namespace,
// service, pod, and (podTargetLabels) the pods' rollouts-pod-template-hash. The load is sent to
// each worker directly, as the Service would spread it over the pods.
//   good    a harmless change (context size): canary measured alone, within the gate -> promoted
//   bad     parallel 4 -> 1 under the same load: requests queue, TTFT breaches -> aborted, back to stable
//   budget  the bad canary spent the TTFT budget: the next change waits before any canary pod;
//           the override annotation lets it through
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { apply, get, list, newNamespace, waitFor, type KubeObject } from '../cluster/client.ts';
import { cacheDir } from '../support/tools.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { ARGO_ROLLOUTS_CRDS, startArgoRollouts, type ArgoRollouts } from '../support/argo-rollouts.ts';
import { startPrometheus, type Prometheus, type Target } from './support/monitoring.ts';
import { deploymentArgs, flagValue, ruleGroupsOf, startLocalWorker, steadyLoad, type Load, type LocalWorker } from './support/pipeline.ts';
import { POD_TEMPLATE_HASH_LABEL, POD_TEMPLATE_HASH_POD_LABEL } from '../../src/sla/gates.ts';
import type { Qws } from '../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
const MODEL = 'gemma3-270m';
const NAME = 'chat';
const model = { source: 'file:///models/gemma-3-270m-q4_k_m.gguf', name: MODEL, contextSize: 1024, parallel: 4 };
// TTFT p99 <= 1s (1% budget): the canary fails a step once more than 6% of its requests wait
// longer, and a few dozen such requests spend the budget of a few minutes of history. A worker
// that decodes four requests together answers two concurrent ones with a first token in about
// 0.1-0.5 s here; one that decodes a single request at a time under eight concurrent ones makes
// each wait for up to seven 16-token answers first.
const spec = (m: Partial<typeof model>) => ({
  model: { ...model, ...m }, gpu: { count: 0 }, replicas: 1,
  sla: { window: '7d', timeToFirstToken: { p99: '1s' } },
  rollout: { canary: { weight: 50, analysis: '1m' }, gate: { minEvents: 10 } },
});
const LOAD = { good: 2, bad: 8 };
const HASH_LABEL = POD_TEMPLATE_HASH_LABEL;

type Rollout = KubeObject & { status?: { phase?: string; abort?: boolean; stableRS?: string; currentPodHash?: string; currentStepIndex?: number; message?: string } };
type Event = KubeObject & { reason: string; type: string; message: string; involvedObject: { name: string } };
type Scalable = KubeObject & { spec: { replicas?: number } };
const log = (m: string) => process.stderr.write(`[e2e rollout ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

describe('SLA-gated rollouts on Argo Rollouts, end to end', () => {
  let cluster: Cluster;
  let argo: ArgoRollouts | undefined;
  let op: RunningOperator | undefined;
  let prom: Prometheus | undefined;
  let ns: string;
  const dir = mkdtempSync(join(tmpdir(), 'qwen-e2e-rollout-'));
  /** One running worker per pod-template hash, with its load. */
  const versions = new Map<string, { worker: LocalWorker; load: Load }>();

  const rollout = () => get<Rollout>(cluster, 'argoproj.io/v1alpha1', 'Rollout', NAME, ns);
  const qws = () => get<Qws>(cluster, QWS, 'QwenService', NAME, ns);
  const gated = async () => (await qws())?.status?.conditions?.find((c) => c.type === 'RolloutGated');
  const waitGated = (reason: string, timeoutMs: number) => waitFor(`RolloutGated ${reason}`, async () => { const c = await gated(); return c?.reason === reason ? c : undefined; }, timeoutMs, 1_000);
  const events = async (reason: string) => (await list<Event>(cluster, 'v1', 'Event', ns)).filter((e) => e.involvedObject.name === NAME && e.reason === reason);
  /** The Events of a reason once there is one: an Event follows the status write that announces it. */
  const eventsOnce = (reason: string) => waitFor(`${reason} Event`, async () => { const e = await events(reason); return e.length ? e : undefined; }, 30_000, 500);
  const targets = (): Target[] => [...versions].map(([hash, v]) => ({ address: new URL(v.worker.url).host, namespace: ns, service: NAME, pod: `${NAME}-${hash}`, podLabels: { [HASH_LABEL]: hash } }));

  /** Starts a worker with the arguments of the Deployment's current pod template, labelled `hash`, under steady load. */
  async function startVersion(hash: string, concurrency: number): Promise<void> {
    const args = await deploymentArgs(cluster, ns, NAME);
    const worker = await startLocalWorker({
      // One thread each: two or three workers share two cores here, and llama.cpp's threads spin.
      dir, logName: `worker-${hash}.log`, modelName: MODEL, threads: 1,
      parallel: Number(flagValue(args, '--parallel')), sloBuckets: flagValue(args, '--slo-buckets'),
    });
    versions.set(hash, { worker, load: steadyLoad(worker.url, { model: MODEL, periodMs: 100, maxTokens: 16, concurrency }) });
    await prom!.setTargets(targets());
  }
  async function stopVersion(hash: string): Promise<void> {
    const v = versions.get(hash);
    versions.delete(hash);
    await prom!.setTargets(targets());
    await v?.load.stop();
    await v?.worker.kill();
  }
  /**
   * The update the operator passed on: Argo's new canary hash, once it differs from the stable one
   * and Argo has scaled its ReplicaSet up (past the budget check): only then do canary pods serve.
   */
  const canaryHash = (stable: string) => waitFor('canary pods scheduled', async () => {
    const h = (await rollout())?.status?.currentPodHash;
    if (!h || h === stable) return undefined;
    const rs = await get<Scalable>(cluster, 'apps/v1', 'ReplicaSet', `${NAME}-${h}`, ns);
    return (rs?.spec.replicas ?? 0) > 0 ? h : undefined;
  }, 120_000, 500);

  beforeAll(async () => {
    const t0 = Date.now();
    for (const f of [join(ARGO_ROLLOUTS_CRDS, 'rollout-crd.yaml'), join(cacheDir, 'prometheus-operator-crds')]) if (!existsSync(f)) throw new Error(`${f} missing: run scripts/setup.sh`);
    cluster = await startCluster({
      controllers: true, scheduler: true, kwokNodes: [{ name: 'kwok-cpu-0' }, { name: 'kwok-cpu-1' }],
      crds: [join(process.cwd(), 'crds'), join(cacheDir, 'prometheus-operator-crds'), ARGO_ROLLOUTS_CRDS],
    });
    ns = await newNamespace(cluster, 'rollout');
    argo = await startArgoRollouts(cluster, join(dir, 'argo'));
    prom = await startPrometheus({ dir: join(dir, 'prom'), targets: [] });
    op = await startOperator(cluster.kubeconfigPath, { namespaces: [ns], monitoringCheckIntervalMs: 1_000, config: { prometheusURL: prom.url } });
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns }, spec: spec({}) });
    await waitFor('PrometheusRule', () => list(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', ns, `qwenops.io/qwenservice=${NAME}`).then((l) => l.length > 0), 60_000);
    await prom.setRules(await ruleGroupsOf(cluster, ns, NAME));
    const first = await waitFor('Rollout running its first version', async () => (await rollout())?.status?.currentPodHash, 60_000, 500);
    await startVersion(first, LOAD.good);
    const stable = await waitFor('Rollout healthy on its first version', async () => { const r = await rollout(); return r?.status?.phase === 'Healthy' && r.status.stableRS ? r.status.stableRS : undefined; }, 180_000, 1_000);
    if (stable !== first) throw new Error(`first version ${first}, stable ${stable}`);
    log(`pipeline up in ${Math.round((Date.now() - t0) / 1000)} s (run dir ${dir}); stable ${stable}`);
  }, 300_000);

  afterAll(async () => {
    // What Argo and the operator left, for reading a failure after the cluster is gone.
    if (cluster) {
      writeFileSync(join(dir, 'replicasets.json'), JSON.stringify(await list(cluster, 'apps/v1', 'ReplicaSet', ns), null, 1));
      writeFileSync(join(dir, 'rollout.json'), JSON.stringify(await rollout(), null, 1));
      writeFileSync(join(dir, 'deployment.json'), JSON.stringify(await get(cluster, 'apps/v1', 'Deployment', NAME, ns), null, 1));
    }
    for (const hash of [...versions.keys()]) await stopVersion(hash).catch(() => {});
    await op?.stop();
    await argo?.stop();
    await prom?.stop();
    await cluster?.stop();
  }, 90_000);

  it('renders the Rollout over the Deployment, the ServiceMonitor relabels the pod-template hash; Ready counts the Rollout\'s pods', async () => {
    const r = (await rollout())!;
    expect((r.spec as { workloadRef: unknown }).workloadRef).toMatchObject({ kind: 'Deployment', name: NAME });
    const sm = (await list<KubeObject & { spec: { podTargetLabels?: string[] } }>(cluster, 'monitoring.coreos.com/v1', 'ServiceMonitor', ns))[0]!;
    expect(sm.spec.podTargetLabels).toEqual([POD_TEMPLATE_HASH_POD_LABEL]);
    // Argo scaled the Deployment to zero once its Rollout was healthy; the workers are the Rollout's.
    await waitFor('Deployment scaled to 0 by Argo', async () => (await get<Scalable>(cluster, 'apps/v1', 'Deployment', NAME, ns))?.spec.replicas === 0, 60_000, 1_000);
    const ready = await waitFor('Ready=True', async () => { const q = await qws(); return q?.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') ? q : undefined; }, 60_000, 1_000);
    expect(ready.status?.readyReplicas).toBe(1);
    expect((await waitGated('Healthy', 60_000)).status).toBe('True');
  }, 180_000);

  it('good: a canary within the gate is promoted', async () => {
    const stable = (await rollout())!.status!.stableRS!;
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns }, spec: spec({ contextSize: 2048 }) });
    const canary = await canaryHash(stable);
    await startVersion(canary, LOAD.good);
    const progressing = await waitGated('CanaryProgressing', 60_000);
    log(`good: canary ${canary} started; ${progressing.message}`);
    const started = Date.now();
    await waitFor('promoted (stableRS = canary)', async () => (await rollout())?.status?.stableRS === canary, 240_000, 1_000);
    log(`good: promoted ${Math.round((Date.now() - started) / 1000)} s after the canary started`);
    expect((await rollout())!.status!.abort).toBeFalsy();
    expect((await waitGated('Healthy', 60_000)).status).toBe('True');
    expect(await eventsOnce('RolloutPromoted')).toHaveLength(1);
    await stopVersion(stable);
  }, 360_000);

  it('bad: a canary that breaches the TTFT SLO is aborted and every worker returns to stable', async () => {
    const stable = (await rollout())!.status!.stableRS!;
    // parallel 1: requests decode one at a time, the others wait for their first token.
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns }, spec: spec({ contextSize: 2048, parallel: 1 }) });
    const canary = await canaryHash(stable);
    await startVersion(canary, LOAD.bad);
    const started = Date.now();
    const failed = await waitGated('CanaryFailedSLO', 240_000);
    log(`bad: aborted ${Math.round((Date.now() - started) / 1000)} s after the canary started: ${failed.message}`);
    expect(failed.status).toBe('False');
    expect(failed.message).toMatch(/ttft-p99: [0-9.]+% of the canary's requests were bad, more than the 6% allowed/);
    const r = (await rollout())!;
    expect(r.status).toMatchObject({ abort: true, stableRS: stable });
    // Argo scales the canary ReplicaSet back to zero: only the stable pods run.
    await waitFor('canary ReplicaSet at 0', async () => {
      const rs = await get<Scalable>(cluster, 'apps/v1', 'ReplicaSet', `${NAME}-${canary}`, ns);
      return rs?.spec.replicas === 0;
    }, 60_000, 1_000);
    expect((await eventsOnce('CanaryFailedSLO')).map((e) => e.type)).toEqual(['Warning']);
    const slow = versions.get(canary)!.load.stats;
    log(`bad: the canary served ${slow.ok} requests; the client saw TTFT p50 ${median(slow.ttfts).toFixed(2)} s`);
    await stopVersion(canary);
  }, 360_000);

  it('budget: with the TTFT budget spent, the next change waits before any canary pod; the override lets it through', async () => {
    const remaining = await prom!.query(`qwen_slo:error_budget_remaining:ratio{namespace="${ns}",service="${NAME}",slo="ttft-p99"}`);
    log(`budget: ttft-p99 budget remaining ${remaining[0]?.value[1]}`);
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns }, spec: spec({ contextSize: 1536 }) });
    const waiting = await waitGated('BudgetExhausted', 120_000);
    log(`budget: ${waiting.message}`);
    expect(waiting.message).toContain('ttft-p99');
    const r = (await rollout())!;
    expect(r.status?.currentStepIndex).toBe(0);
    const canaryRs = await get<Scalable>(cluster, 'apps/v1', 'ReplicaSet', `${NAME}-${r.status!.currentPodHash}`, ns);
    expect(canaryRs?.spec.replicas ?? 0).toBe(0);
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns, annotations: { 'qwenops.io/rollout-ignore-budget': 'true' } }, spec: spec({ contextSize: 1536 }) });
    const moving = await waitGated('CanaryProgressing', 120_000);
    log(`budget: override: ${moving.message}`);
    await waitFor('canary pods scheduled', async () => {
      const rs = await get<Scalable>(cluster, 'apps/v1', 'ReplicaSet', `${NAME}-${(await rollout())!.status!.currentPodHash}`, ns);
      return (rs?.spec.replicas ?? 0) > 0;
    }, 60_000, 1_000);
    // Argo ran our queries without an error from Prometheus.
    const errors = readFileSync(argo!.log, 'utf8').split('\n').filter((l) => l.includes('"level":"error"') && l.includes('prometheus')).map((l) => l.slice(0, 300));
    expect(errors).toEqual([]);
  }, 300_000);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : Number.NaN;
}
