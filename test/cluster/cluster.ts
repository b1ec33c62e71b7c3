// Starts and stops a real Kubernetes control plane on loopback for tests and the dev command:
// etcd + kube-apiserver (TLS, RBAC, PodSecurity, service-account keys), optionally
// kube-controller-manager, kube-scheduler and kwok with fake (GPU) nodes. No kubelet, no Docker.
// Every process is ours: stop() ends exactly them (apiserver before etcd, SIGKILL after a
// timeout), removes their data and keeps the logs in the run dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { cacheDir, toolPath } from '../support/tools.ts';
import { addNode, installCrds, kubeRequest, waitFor, waitNodeReady, type ClusterInfo, type FakeNodeSpec } from './client.ts';
import { makePki, type Pki } from './pki.ts';

export interface ClusterOptions {
  /** kube-controller-manager (GC, deployments, replicasets, namespaces, service accounts, node lifecycle). */
  controllers?: boolean;
  /** More kube-controller-manager controllers (e.g. horizontalpodautoscaling) and flags. */
  extraControllers?: string[];
  controllerManagerArgs?: string[];
  /** kube-scheduler. */
  scheduler?: boolean;
  /** kwok and the fake nodes it manages: a count (every other node gets GPUs) or explicit specs. Implies kwok. */
  kwokNodes?: number | FakeNodeSpec[];
  /** Run kwok even with no initial nodes (add them later with addNode/addGpuNode). */
  kwok?: boolean;
  /** kube-apiserver --watch-cache (default true); false makes etcd compaction visible to watchers at once. */
  watchCache?: boolean;
  /** CRD files or directories to install once the apiserver is ready. */
  crds?: string[];
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /** Where logs and data go; default a fresh dir under $QWEN_CLUSTER_RUNS or <tmp>/qwen-operator-clusters. */
  runDir?: string;
  /** Echo a line per component start to stderr. */
  verbose?: boolean;
}

export interface Cluster extends ClusterInfo {
  /** Path of cluster.json (a ClusterInfo) for other processes: loadClusterInfo(path). */
  infoPath: string;
  kubeConfig: KubeConfig;
  ports: { etcd: number; etcdPeer: number; apiserver: number; kwok: number };
  /** Restarts kube-apiserver on the same port (watches break, clients must recover). */
  restartApiserver(): Promise<void>;
  /** Compacts etcd at its current revision; returns that revision. */
  compactEtcd(): Promise<number>;
  /** Current etcd revision. */
  etcdRevision(): Promise<number>;
  installCrds(paths: string[]): Promise<string[]>;
  addNode(spec: FakeNodeSpec): Promise<void>;
  addGpuNode(name: string, gpus: number, product?: string): Promise<void>;
  /** Stops every process (reverse start order), removes data, keeps logs. Idempotent. */
  stop(): Promise<void>;
}

/** The default fake nodes of a full cluster: one CPU node and GPU nodes of two products. */
export const DEFAULT_NODES: FakeNodeSpec[] = [
  { name: 'kwok-cpu-0' },
  { name: 'kwok-gpu-l4-0', gpus: 1, product: 'NVIDIA-L4' },
  { name: 'kwok-gpu-a100-0', gpus: 4, product: 'NVIDIA-A100-SXM4-80GB' },
];

export const CONTROLLERS = 'garbagecollector,deployment,replicaset,namespace,serviceaccount,serviceaccount-token,nodelifecycle';

const runsRoot = process.env.QWEN_CLUSTER_RUNS ?? join(tmpdir(), 'qwen-operator-clusters');

interface Proc {
  name: string;
  bin: string;
  args: string[];
  child: ChildProcess;
  exit: Promise<number | null>;
  exited: boolean;
}

const live = new Set<Proc>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the owner dies without stop(): never leave a control plane behind.
  const killAll = (): void => { for (const p of live) try { p.child.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', killAll);
  // Killed by a signal with nobody else handling it (e.g. `kill <jest pid>`): kill the children,
  // then let the signal take its default course. (reapStaleRuns covers SIGKILL of the owner.)
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const handler = (): void => {
      if (process.listenerCount(sig) > 1) return;
      killAll();
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Kills processes recorded by runs whose owner process is gone (a crashed jest, a killed dev shell). */
export function reapStaleRuns(): void {
  if (!existsSync(runsRoot)) return;
  for (const d of readdirSync(runsRoot)) {
    const f = join(runsRoot, d, 'pids.json');
    if (!existsSync(f)) continue;
    let rec: { owner: number; procs: { pid: number; bin: string }[] };
    try { rec = JSON.parse(readFileSync(f, 'utf8')); } catch { continue; }
    if (pidAlive(rec.owner)) continue;
    for (const p of rec.procs) {
      try { if (realpathSync(readlinkSync(`/proc/${p.pid}/exe`)) === realpathSync(p.bin)) process.kill(p.pid, 'SIGKILL'); } catch { /* not ours / gone */ }
    }
    rmSync(f, { force: true });
  }
  // Keep the logs of the 10 newest runs.
  const dirs = readdirSync(runsRoot).map((d) => join(runsRoot, d)).filter((d) => statSync(d).isDirectory() && !existsSync(join(d, 'pids.json')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const d of dirs.slice(10)) rmSync(d, { recursive: true, force: true });
}

function tail(file: string, lines = 30): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n'); } catch { return '(no log)'; }
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  installExitHook();
  reapStaleRuns();
  const runDir = opts.runDir ?? join(runsRoot, `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`);
  const logDir = join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const bins = {
    etcd: toolPath('etcd'), apiserver: toolPath('kube-apiserver'), cm: toolPath('kube-controller-manager'),
    scheduler: toolPath('kube-scheduler'), kwok: toolPath('kwok'),
  };
  const say = (m: string): void => { if (opts.verbose) process.stderr.write(`[cluster] ${m}\n`); };
  const procs: Proc[] = [];
  const recordPids = (): void => {
    writeFileSync(join(runDir, 'pids.json'), JSON.stringify({ owner: process.pid, procs: procs.filter((p) => !p.exited).map((p) => ({ pid: p.child.pid, bin: p.bin })) }));
  };

  const startProc = (name: string, bin: string, args: string[]): Proc => {
    const fd = openSync(join(logDir, `${name}.log`), 'a');
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], cwd: runDir });
    closeSync(fd);
    const proc: Proc = { name, bin, args, child, exited: false, exit: undefined as unknown as Promise<number | null> };
    proc.exit = new Promise((resolve) => {
      child.on('exit', (code, signal) => { proc.exited = true; live.delete(proc); resolve(code ?? (signal ? -1 : null)); });
      child.on('error', () => { proc.exited = true; live.delete(proc); resolve(-1); });
    });
    live.add(proc);
    procs.push(proc);
    recordPids();
    say(`${name} pid ${child.pid}`);
    return proc;
  };

  const stopProc = async (p: Proc, timeoutMs: number): Promise<void> => {
    if (p.exited) return;
    p.child.kill('SIGTERM');
    const t = setTimeout(() => { if (!p.exited) p.child.kill('SIGKILL'); }, timeoutMs);
    await p.exit;
    clearTimeout(t);
  };

  const failIfExited = (p: Proc): void => {
    if (p.exited) throw Object.assign(new Error(`${p.name} exited during start-up; log ${join(logDir, `${p.name}.log`)}:\n${tail(join(logDir, `${p.name}.log`))}`), { fatal: true });
  };

  let stopped = false;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const order = ['kwok', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];
    for (const name of order) for (const p of procs.filter((x) => x.name === name)) await stopProc(p, name === 'kube-apiserver' ? 10_000 : 5_000);
    for (const p of procs) await stopProc(p, 2_000);
    rmSync(join(runDir, 'pids.json'), { force: true });
    for (const d of ['etcd-data', 'pki', 'apiserver-certs']) rmSync(join(runDir, d), { recursive: true, force: true });
  };

  try {
    const pki: Pki = makePki(join(runDir, 'pki'));
    const ports = { etcd: await freePort(), etcdPeer: await freePort(), apiserver: await freePort(), kwok: await freePort() };
    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const server = `https://127.0.0.1:${ports.apiserver}`;

    // etcd
    const peer = `http://127.0.0.1:${ports.etcdPeer}`;
    const etcd = startProc('etcd', bins.etcd, [
      '--name=qwen', `--data-dir=${join(runDir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=qwen=${peer}`,
      '--unsafe-no-fsync', '--log-level=warn',
    ]);
    await waitFor('etcd /health', async () => {
      failIfExited(etcd);
      try { return (await fetch(`${etcdUrl}/health`)).ok; } catch { return false; }
    }, 30_000, 100);

    // kube-apiserver
    const kubeconfigPath = join(runDir, 'kubeconfig');
    writeFileSync(kubeconfigPath, [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: qwen-test', '  cluster:', `    server: ${server}`, `    certificate-authority: ${pki.caCert}`,
      'users:', '- name: qwen-admin', '  user:', `    client-certificate: ${pki.adminCert}`, `    client-key: ${pki.adminKey}`,
      'contexts:', '- name: qwen-test', '  context:', '    cluster: qwen-test', '    user: qwen-admin', '    namespace: default',
      'current-context: qwen-test', '',
    ].join('\n'));
    const info: ClusterInfo = { server, caFile: pki.caCert, certFile: pki.adminCert, keyFile: pki.adminKey, kubeconfigPath, etcdUrl, runDir };
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${ports.apiserver}`,
      `--cert-dir=${join(runDir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=RBAC',
      // OwnerReferencesPermissionEnforcement as in OpenShift: setting blockOwnerDeletion needs
      // `update` on the owner's finalizers, so a missing grant fails the tests that run the
      // operator with the chart's RBAC instead of only real clusters.
      '--enable-admission-plugins=PodSecurity,OwnerReferencesPermissionEnforcement',
      '--allow-privileged=true',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      `--watch-cache=${opts.watchCache ?? true}`,
      '--profiling=false',
      ...(opts.apiserverArgs ?? []),
    ];
    let apiserver = startProc('kube-apiserver', bins.apiserver, apiserverArgs);
    const waitReadyz = async (): Promise<void> => {
      await waitFor('kube-apiserver /readyz', async () => {
        failIfExited(apiserver);
        try { return (await kubeRequest(info, 'GET', '/readyz', undefined, { timeoutMs: 5_000 })).status === 200; } catch { return false; }
      }, 90_000, 200);
    };
    await waitReadyz();
    // RBAC bootstrap roles exist once readyz passes (poststarthook/rbac/bootstrap-roles).

    if (opts.controllers) {
      const cm = startProc('kube-controller-manager', bins.cm, [
        `--kubeconfig=${kubeconfigPath}`, '--leader-elect=false', '--secure-port=0',
        `--controllers=${[CONTROLLERS, ...(opts.extraControllers ?? [])].join(',')}`,
        `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCert}`,
        '--use-service-account-credentials=false',
        '--concurrent-gc-syncs=5', '--concurrent-deployment-syncs=5', '--concurrent-replicaset-syncs=5',
        ...(opts.controllerManagerArgs ?? []),
      ]);
      // Ready when the serviceaccount controller has made kube-system/default.
      await waitFor('kube-controller-manager (serviceaccount default)', async () => {
        failIfExited(cm);
        return (await kubeRequest(info, 'GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200;
      }, 60_000, 200);
    }
    if (opts.scheduler) {
      const sched = startProc('kube-scheduler', bins.scheduler, [`--kubeconfig=${kubeconfigPath}`, '--leader-elect=false', '--secure-port=0']);
      await new Promise((r) => setTimeout(r, 300));
      failIfExited(sched);
    }
    const nodes: FakeNodeSpec[] = typeof opts.kwokNodes === 'number'
      ? Array.from({ length: opts.kwokNodes }, (_, i) => (i % 2 === 1 ? { name: `kwok-gpu-${i}`, gpus: 1 + (i % 4), product: 'NVIDIA-L4' } : { name: `kwok-cpu-${i}` }))
      : opts.kwokNodes ?? [];
    if (opts.kwok || opts.kwokNodes !== undefined) {
      const stages = join(cacheDir, 'kwok-stages');
      const stageFiles = ['node-initialize.yaml', 'pod-ready.yaml', 'pod-complete.yaml', 'pod-delete.yaml'].map((f) => join(stages, f));
      for (const f of stageFiles) if (!existsSync(f)) throw new Error(`${f} missing: run test/cluster/build.sh`);
      // The port is picked right before kwok binds it, and picked again when an outgoing
      // connection took it meanwhile (both come from the ephemeral range on a busy machine).
      let kwok: Proc | undefined;
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1) ports.kwok = await freePort();
        kwok = startProc('kwok', bins.kwok, [
          `--kubeconfig=${kubeconfigPath}`,
          ...stageFiles.map((f) => `--config=${f}`),
          `--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake`,
          '--node-lease-duration-seconds=40',
          '--cidr=10.244.0.0/16', '--node-ip=10.0.0.10',
          `--server-address=127.0.0.1:${ports.kwok}`,
        ]);
        await new Promise((r) => setTimeout(r, 300));
        const portTaken = kwok.exited && /address already in use/.test(tail(join(logDir, 'kwok.log')));
        if (!portTaken || attempt === 3) break;
        say(`kwok: port ${ports.kwok} taken meanwhile, trying another`);
      }
      failIfExited(kwok);
      for (const n of nodes) await addNode(info, n, false);
      for (const n of nodes) await waitNodeReady(info, n.name, opts.controllers ? 60_000 : 30_000).catch((e: unknown) => {
        failIfExited(kwok!);
        throw new Error(`${String(e)} (kwok log: ${join(logDir, 'kwok.log')})`);
      });
    }

    info.components = [...new Set(procs.map((p) => p.name))];
    const infoPath = join(runDir, 'cluster.json');
    writeFileSync(infoPath, JSON.stringify(info, null, 2));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);

    const etcdPost = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
      const json = await res.json() as Record<string, unknown>;
      if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const etcdRevision = async (): Promise<number> => {
      const r = await etcdPost('/v3/kv/range', { key: Buffer.from('/registry').toString('base64'), count_only: true });
      return Number((r.header as { revision: string }).revision);
    };

    const cluster: Cluster = {
      ...info, infoPath, kubeConfig, ports,
      async restartApiserver() {
        // A graceful apiserver stop with clients still watching can hang ~10 s; 3 s then SIGKILL.
        await stopProc(apiserver, 3_000);
        apiserver = startProc('kube-apiserver', bins.apiserver, apiserverArgs);
        await waitReadyz();
      },
      etcdRevision,
      async compactEtcd() {
        const rev = await etcdRevision();
        await etcdPost('/v3/kv/compaction', { revision: String(rev), physical: true });
        return rev;
      },
      installCrds: (paths) => installCrds(info, paths),
      addNode: (spec) => addNode(info, spec),
      addGpuNode: (name, gpus, product) => addNode(info, { name, gpus, product: product ?? 'NVIDIA-L4' }),
      stop: stopAll,
    };
    if (opts.crds?.length) await cluster.installCrds(opts.crds);
    return cluster;
  } catch (e) {
    await stopAll();
    throw e;
  }
}
