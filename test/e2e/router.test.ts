// spec.router and scale to zero end to end, through the operator's own objects: the operator renders
// the router (Deployment, headless Service, Role...), the workers' Service and a ScaledObject with
// an external-push trigger beside its Prometheus triggers; real KEDA (test/support/keda.ts) reads
// them; kube-controller-manager's Deployment and HPA controllers act; kwok runs the pods. What kwok
// does not do — run a process in a pod — the pod runner does (support/pod-runner.ts): each router pod
// is a real `qwen-router` with the pod's own arguments (bound to the pod's IP on loopback, following
// the EndpointSlices of the real apiserver), each worker pod a real `qwen-worker` serving the test
// model; the runner publishes their EndpointSlices with the readiness it probed. KEDA runs on the
// host and dials the rendered scaler address (`<name>-router.<ns>.svc.cluster.local:9100`): an
// /etc/hosts line, written here and removed after, points it at the first router pod — so a request
// held at the SECOND router only wakes the workers if the first counts its peer's load.
//   idle      nothing sent -> the workers' Deployment goes to 0
//   activate  one request at zero, sent to the second router: held, pushed to KEDA, a worker pod
//             starts, the request gets 200; the cold-start breakdown is logged
//   rolling   a rolling update of the workers under steady load through the routers: no failed request
//   timeout   at zero with a worker pod that never gets ready (its process is not started, as with an
//             image that never pulls): 503 with Retry-After after holdTimeout
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from '../../router/node_modules/openai/index.mjs';
import { startCluster, type Cluster } from '../cluster/cluster.ts';
import { frontProxyArgs } from '../cluster/aggregation.ts';
import { apply, get, newNamespace, waitFor, type KubeObject } from '../cluster/client.ts';
import { cacheDir } from '../support/tools.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { KEDA_CRDS, startKeda, type Keda } from '../support/keda.ts';
import { startPrometheus, type Prometheus } from './support/monitoring.ts';
import { MODEL_PATH } from './support/pipeline.ts';
import { PodRunner, type Pod } from './support/pod-runner.ts';
import { ROUTER_DEFAULT } from '../../router/src/contract.ts';
import { WORKER_DEFAULT } from '../../worker/src/contract.ts';

const QWS = 'qwenops.io/v1alpha1';
const NAME = 'chat';
const MODEL = 'gemma3-270m';
// Long enough for a cold start on a busy CI machine (model load took 8 s idle, over 20 s under load).
const HOLD_S = 60;
const ZERO_AFTER_S = 15;
const ROOT = process.cwd();
const HOSTS = '/etc/hosts';
const HOSTS_MARK = '# qwen-e2e-router';
/** Where the scaler's Service name resolves on this host (a loopback address of the test's own). */
const SCALER_VIP = '10.250.0.1';

/** A TCP relay on `host:port` to `target()`:port, waiting (up to 30 s) for the target to listen. */
function relay(host: string, port: number, target: () => string | undefined): Promise<Server> {
  const server = createServer((client: Socket) => {
    client.pause();
    const deadline = Date.now() + 30_000;
    const attempt = () => {
      const ip = target();
      if (!ip) { if (Date.now() < deadline) setTimeout(attempt, 200); else client.destroy(); return; }
      const upstream = connect(port, ip);
      const retry = () => { upstream.destroy(); if (Date.now() < deadline) setTimeout(attempt, 200); else client.destroy(); };
      upstream.once('error', retry);
      upstream.once('connect', () => {
        upstream.off('error', retry).on('error', () => client.destroy());
        client.once('close', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
    };
    client.on('error', () => {});
    attempt();
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

type Deployment = KubeObject & { spec: { replicas?: number; template: { metadata?: { annotations?: Record<string, string> } } }; status?: { readyReplicas?: number; updatedReplicas?: number } };
const log = (m: string) => process.stderr.write(`[e2e router ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** `parallel` changes the workers' arguments: a new value rolls them. */
const spec = (parallel: number) => ({
  model: { source: 'file:///models/gemma-3-270m-q4_k_m.gguf', name: MODEL, contextSize: 1024, parallel },
  gpu: { count: 0 },
  router: { replicas: 2, holdTimeout: `${HOLD_S}s` },
  autoscaling: { minReplicas: 0, maxReplicas: 2, targetInFlightPerReplica: 2, scaleToZeroAfter: `${ZERO_AFTER_S}s` },
});

/** The value of `--flag=value` in a pod's first container's args. */
const argOf = (pod: Pod, flag: string) => ((pod as unknown as { spec: { containers: { args?: string[] }[] } }).spec.containers[0]!.args ?? []).find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);

describe('the router in front of the workers, scale to zero, end to end', () => {
  let cluster: Cluster;
  let keda: Keda | undefined;
  let prom: Prometheus | undefined;
  let op: RunningOperator | undefined;
  let routers: PodRunner | undefined;
  let workers: PodRunner | undefined;
  let ns: string;
  let startWorkers = true;
  let scalerRelay: Server | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'qwen-e2e-router-'));

  const deployment = (name: string) => get<Deployment>(cluster, 'apps/v1', 'Deployment', name, ns);
  const workerReplicas = async () => (await deployment(NAME))?.spec.replicas;
  const routerUrls = () => routers!.pods().filter((p) => p.ready).map((p) => `http://${p.ip}:${ROUTER_DEFAULT.port}`).sort();
  const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });

  beforeAll(async () => {
    const t0 = Date.now();
    if (process.getuid?.() !== 0) throw new Error('the router e2e binds pod IPs on loopback and writes /etc/hosts: it runs as root');
    for (const f of [join(KEDA_CRDS, 'keda.sh_scaledobjects.yaml'), join(cacheDir, 'prometheus-operator-crds'), MODEL_PATH]) if (!existsSync(f)) throw new Error(`${f} missing: run scripts/setup.sh`);
    cluster = await startCluster({
      controllers: true, scheduler: true,
      extraControllers: ['horizontalpodautoscaling'], controllerManagerArgs: ['--horizontal-pod-autoscaler-sync-period=2s'],
      kwokNodes: [{ name: 'kwok-cpu-0' }, { name: 'kwok-cpu-1' }],
      apiserverArgs: frontProxyArgs(join(dir, 'front-proxy')),
      crds: [join(ROOT, 'crds'), join(cacheDir, 'prometheus-operator-crds'), KEDA_CRDS],
    });
    ns = await newNamespace(cluster, 'router');
    keda = await startKeda(cluster, join(dir, 'keda'));
    // The ScaledObject's Prometheus triggers need a server to ask; with no targets their queries are empty (0).
    prom = await startPrometheus({ dir: join(dir, 'prom'), targets: [] });
    op = await startOperator(cluster.kubeconfigPath, { namespaces: [ns], config: { prometheusURL: prom.url, routerImage: 'qwen-router:test' } });

    routers = new PodRunner(cluster, ns, `app.kubernetes.io/name=qwen-router,app.kubernetes.io/instance=${NAME}`, (pod, ip) => ({
      bin: join(ROOT, 'router', 'bin', 'qwen-router'),
      // The pod's own arguments, bound to its IP (two routers share the host), with the cluster's kubeconfig for its EndpointSlice watches.
      args: [...((pod as unknown as { spec: { containers: { args: string[] }[] } }).spec.containers[0]!.args.filter((a) => !a.startsWith('--host='))), `--host=${ip}`],
      env: { KUBECONFIG: cluster.kubeconfigPath, POD_IP: ip },
      readyUrl: `http://${ip}:${ROUTER_DEFAULT.adminPort}/readyz`,
      log: join(dir, `${pod.metadata.name}.log`),
    }), [{ service: `${NAME}-router`, selector: { 'app.kubernetes.io/name': 'qwen-router' }, ports: [{ name: 'metrics', port: ROUTER_DEFAULT.adminPort }, { name: 'scaler', port: ROUTER_DEFAULT.scalerPort }] }]).start();
    workers = new PodRunner(cluster, ns, `app.kubernetes.io/name=qwen-worker,app.kubernetes.io/instance=${NAME}`, (pod, ip) => ({
      // A pod stuck before its container starts (an image that never pulls) runs nothing.
      bin: startWorkers ? join(ROOT, 'worker', 'bin', 'qwen-worker') : 'sleep',
      args: startWorkers
        ? ['--model', MODEL_PATH, '--host', ip, '--port', String(WORKER_DEFAULT.port), '--parallel', argOf(pod, 'parallel') ?? '2', '--context-size', '1024', '--threads', '1', '--model-name', MODEL, '--gpu', 'false', '--log-level', 'warn']
        : ['3600'],
      readyUrl: `http://${ip}:${WORKER_DEFAULT.port}/readyz`,
      log: join(dir, `${pod.metadata.name}.log`),
    }), [{ service: `${NAME}-workers`, selector: { 'app.kubernetes.io/name': 'qwen-worker' }, ports: [{ name: 'http', port: WORKER_DEFAULT.port }] }]).start();

    // KEDA dials the scaler by its Service name: the relay, to the first router (by address).
    execFileSync('ip', ['addr', 'replace', `${SCALER_VIP}/32`, 'dev', 'lo']);
    scalerRelay = await relay(SCALER_VIP, ROUTER_DEFAULT.scalerPort, () => routers!.pods().map((p) => p.ip).sort()[0]);
    writeFileSync(HOSTS, `${readFileSync(HOSTS, 'utf8').trimEnd()}\n${SCALER_VIP} ${NAME}-router.${ns}.svc.cluster.local ${HOSTS_MARK}\n`);
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns }, spec: spec(2) });
    await waitFor('both routers ready', async () => routers!.pods().filter((p) => p.ready).length === 2, 120_000, 500);
    log(`control plane, KEDA, operator and routers (${routerUrls().join(', ')}) up in ${Math.round((Date.now() - t0) / 1000)} s (run dir ${dir})`);
  }, 420_000);

  afterAll(async () => {
    if (existsSync(HOSTS)) writeFileSync(HOSTS, readFileSync(HOSTS, 'utf8').split('\n').filter((l) => !l.includes(HOSTS_MARK)).join('\n'));
    scalerRelay?.close();
    try { execFileSync('ip', ['addr', 'del', `${SCALER_VIP}/32`, 'dev', 'lo'], { stdio: 'pipe' }); } catch { /* not added */ }
    await workers?.stop();
    await routers?.stop();
    await op?.stop();
    await prom?.stop();
    await keda?.stop();
    await cluster?.stop();
  }, 120_000);

  it('idle: with nothing sent, KEDA takes the workers to 0; the Service selects the routers', async () => {
    await waitFor('workers at 0', async () => (await workerReplicas()) === 0, 120_000, 500);
    const svc = await get<KubeObject & { spec: { selector: Record<string, string> } }>(cluster, 'v1', 'Service', NAME, ns);
    expect(svc?.spec.selector['app.kubernetes.io/name']).toBe('qwen-router');
    await waitFor('no worker process', () => workers!.pods().length === 0, 60_000, 500);
  }, 180_000);

  it('activate: a request at zero, held at the router KEDA does not talk to, wakes a worker and gets 200', async () => {
    const second = routerUrls()[1]!;
    const t0 = Date.now();
    let activatedAt = 0;
    const watch = (async () => { while (!activatedAt && Date.now() - t0 < 120_000) { if (((await workerReplicas()) ?? 0) >= 1) activatedAt = Date.now(); else await new Promise((r) => setTimeout(r, 50)); } })();
    const stream = await client(second).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, stream: true });
    let firstTokenAt = 0;
    let text = '';
    for await (const chunk of stream) {
      const c = chunk.choices[0]?.delta?.content;
      if (c) { if (!firstTokenAt) firstTokenAt = Date.now(); text += c; }
    }
    await watch;
    const pod = [...workers!.history.entries()].at(-1)!;
    const times = pod[1];
    log(`cold start through the router: activation (request -> Deployment 1) ${activatedAt - t0} ms; pod created ${times.created - t0} ms (kwok; second resolution); `
      + `process started ${times.spawned - t0} ms; worker ready (model load) ${(times.ready ?? 0) - t0} ms; first token ${firstTokenAt - t0} ms; done ${Date.now() - t0} ms`);
    expect(text.length).toBeGreaterThan(0);
    expect(activatedAt).toBeGreaterThan(0);
    // The push, not KEDA's polling (every 15 s) nor the Prometheus triggers (empty), woke it: well under one polling interval.
    expect(activatedAt - t0).toBeLessThan(10_000);
  }, 180_000);

  it('rolling: a rolling update of the workers under steady load loses no request', async () => {
    const urls = routerUrls();
    const results: { ok: boolean; error?: string }[] = [];
    let stop = false;
    const loop = async (i: number) => {
      for (let n = 0; !stop; n++) {
        try {
          const r = await client(urls[(i + n) % urls.length]!).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `Conversation ${i}, turn ${n}: count to three.` }], max_tokens: 6 });
          results.push({ ok: (r.choices[0]?.message?.content ?? '').length >= 0 });
        } catch (e) { results.push({ ok: false, error: String(e).slice(0, 200) }); }
      }
    };
    const loops = [loop(0), loop(1)];
    await waitFor('a few requests served', () => results.length >= 4, 60_000, 200);
    const before = (await deployment(NAME))!;
    const oldPods = new Set(workers!.pods().map((p) => p.name));
    await apply(cluster, { apiVersion: QWS, kind: 'QwenService', metadata: { name: NAME, namespace: ns }, spec: spec(1) });
    await waitFor('a new worker pod ready and the old ones gone', () => {
      const now = workers!.pods();
      return now.length > 0 && now.every((p) => !oldPods.has(p.name) && p.ready);
    }, 180_000, 500);
    const served = results.length;
    await waitFor('requests served by the new worker', () => results.length >= served + 3, 60_000, 200);
    stop = true;
    await Promise.all(loops);
    log(`rolling update under load: ${results.length} requests, ${results.filter((r) => !r.ok).length} failed (workers' Deployment generation ${before.metadata.generation} -> ${(await deployment(NAME))!.metadata.generation})`);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  }, 300_000);

  it('timeout: at zero, with a worker that never gets ready, a request gets 503 with Retry-After after holdTimeout', async () => {
    startWorkers = false;
    await waitFor('workers back at 0 (idle)', async () => (await workerReplicas()) === 0, 120_000, 500);
    await waitFor('no worker process', () => workers!.pods().length === 0, 60_000, 500);
    const t0 = Date.now();
    const res = await fetch(`${routerUrls()[0]}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hello?' }], max_tokens: 4 }),
    });
    const waited = (Date.now() - t0) / 1000;
    const body = await res.json() as { error?: { type?: string } };
    log(`held ${waited.toFixed(1)} s (holdTimeout ${HOLD_S} s), then ${res.status} Retry-After ${res.headers.get('retry-after')}; a worker pod was started meanwhile: ${(await workerReplicas()) ?? 0} replica(s)`);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(body.error?.type).toBe('unavailable');
    expect(waited).toBeGreaterThanOrEqual(HOLD_S - 1);
    // The request did wake KEDA: a worker pod was asked for, it just never got ready.
    expect((await workerReplicas()) ?? 0).toBeGreaterThanOrEqual(1);
  }, 240_000);
});
