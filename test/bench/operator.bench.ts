// Benchmark (not a test): 500 QwenServices at once on the real control plane. Time until the
// operator has converged all of them (children applied, status written) against a bare client
// that makes the same server-side-apply writes, in the same run; writes per QwenService; the
// operator process's RSS; and writes during a quiet minute afterwards. Memory, from a probe loaded
// into the operator process (operator-probe.js): the live heap per QwenService (after a full GC,
// at rest, less the same before any QwenService existed) and the V8 heap bytes allocated per
// reconcile while converging.
// Run: node test/bench/operator.bench.ts [count]
// OP_NODE_OPTIONS: extra node flags for the operator (e.g. the chart's --max-old-space-size=128).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startCluster } from '../cluster/cluster.ts';
import { apply, list, newNamespace, type KubeObject } from '../cluster/client.ts';
import { cacheDir } from '../support/tools.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { parseQwenService } from '../../src/api/validate.ts';
import { renderAll } from '../../src/render/index.ts';
import { FIELD_MANAGER } from '../../src/conventions.ts';
import { defaultRenderConfig } from '../../src/render/common.ts';
import { computeStatus } from '../../src/controller/status.ts';
import { resolvePlan } from '../../src/plan/index.ts';
import type { Qws } from '../support/qws.ts';

const COUNT = Number(process.argv[2] ?? 500);
const CONCURRENCY = 4;
const spec = { replicas: 1, gpu: { count: 0 }, sla: { latency: { p95: '3s', p99: '5s' }, errorRate: '1%', availability: '99.5%' }, alerting: { receivers: [{ name: 'hook', webhook: { url: { secretKeyRef: { name: 'hook', key: 'url' } } } }], routes: { critical: ['hook'] } } };
const qws = (ns: string, i: number): KubeObject => ({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: `svc-${i}`, namespace: ns }, spec });

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) await fn(items[next++]!); }));
}

const converged = (items: Qws[]) => items.filter((q) => q.status?.conditions?.length && q.status.observedGeneration === (q.metadata as { generation?: number }).generation).length;

// Two namespaces of ${COUNT} Services each need more than the harness's default /24 of cluster IPs.
// The operator as its image runs it: compiled (tsconfig.build.json, no type stripping at run
// time, which alone adds ~30 MB of RSS) and started with the node flags of the Dockerfile's
// ENTRYPOINT (its first stage is the operator's).
const dist = mkdtempSync(join(tmpdir(), 'op-dist-'));
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', dist], { stdio: 'inherit' });
symlinkSync(join(process.cwd(), 'node_modules'), join(dist, 'node_modules'));
const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync('Dockerfile', 'utf8'))![1]!) as string[];
const imageNodeFlags = entrypoint.slice(1, -1);
let spawned: ReturnType<typeof spawn> | undefined;
const cluster = await startCluster({ crds: ['crds', join(cacheDir, 'prometheus-operator-crds')], apiserverArgs: ['--service-cluster-ip-range=10.96.0.0/16'] });
try {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const client = new KubeClient(kc);

  // Baseline: a bare client creates the QwenServices, then makes the operator's writes itself
  // (children and status, server-side apply) with the same concurrency.
  const nsBare = await newNamespace(cluster, 'bench-bare');
  let bareWrites = 0;
  client.onWrite = () => bareWrites++;
  const t0 = performance.now();
  await pool(Array.from({ length: COUNT }, (_, i) => i), 16, (i) => apply(cluster, qws(nsBare, i)));
  const bareItems = await list<KubeObject>(cluster, 'qwenops.io/v1alpha1', 'QwenService', nsBare);
  await pool(bareItems, CONCURRENCY, async (raw) => {
    const q = parseQwenService(raw);
    for (const obj of renderAll(q, defaultRenderConfig)) await client.apply(obj, FIELD_MANAGER);
    const status = computeStatus(resolvePlan(q, defaultRenderConfig), { pods: [], missingMonitoringKinds: [], monitoringRequested: true }, new Date().toISOString());
    await client.apply({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: q.metadata.name, namespace: nsBare }, status }, FIELD_MANAGER, 'status');
  });
  const bareMs = performance.now() - t0;

  // The operator, as its own process, already running when the same QwenServices arrive at once.
  const ns = await newNamespace(cluster, 'bench-op');
  const port = 18000 + Math.floor(Math.random() * 1000);
  const probeFile = join(mkdtempSync(join(tmpdir(), 'op-probe-')), 'probe.jsonl');
  const nodeOptions = `--import=${join(import.meta.dirname, 'operator-probe.js')}`;
  const extraFlags = (process.env.OP_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  const op = spawn(process.execPath, [...imageNodeFlags, ...extraFlags, join(dist, 'src', 'cli.js'), 'run', `--namespaces=${ns}`, `--health-addr=127.0.0.1:${port}`, '--log-level=warn', `--concurrency=${CONCURRENCY}`], { env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, NODE_OPTIONS: nodeOptions, OP_PROBE_FILE: probeFile, ...(process.env.OP_MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.OP_MALLOC_ARENA_MAX } : {}) }, stdio: ['ignore', 'ignore', 'inherit'] });
  spawned = op;
  let exited: number | null | undefined;
  op.on('exit', (code) => { exited = code; });
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    if (exited !== undefined) throw new Error(`the operator exited (code ${exited}) before it was ready`);
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) break;
  }
  type Probe = { allocatedBytes: number; heapUsedAfterGcBytes: number; rssBytes: number; peakHeapTotalBytes: number; peakExternalBytes: number };
  const probe = async (): Promise<Probe> => {
    const lines = () => readFileSync(probeFile, 'utf8').split('\n').filter(Boolean);
    const seen = await Promise.resolve().then(lines).catch(() => []);
    op.kill('SIGUSR2');
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      const now = await Promise.resolve().then(lines).catch(() => []);
      if (now.length > seen.length) return JSON.parse(now.at(-1)!) as Probe;
    }
  };
  const atStart = await probe();
  const t1 = performance.now();
  await pool(Array.from({ length: COUNT }, (_, i) => i), 16, (i) => apply(cluster, qws(ns, i)));
  // Watch progress on the operator's own /metrics (cheap), and confirm with one list of the
  // QwenServices (500 statuses) only when it says it is done: polling that list would itself load
  // the apiserver the two contenders share.
  // A poll that fails (a reset keep-alive socket while the operator is busy) is simply retried.
  const metrics = async (): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      } catch (err) {
        if (exited !== undefined || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const statusWrites = (text: string) => Number(/^qwen_operator_kube_writes_total\{verb="apply-status",kind="QwenService"\} (\d+)/m.exec(text)?.[1] ?? 0);
  const idle = (text: string) => /^workqueue_depth\{name="qwenservice"\} 0$/m.test(text) && /^controller_runtime_active_workers\{controller="qwenservice"\} 0$/m.test(text);
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    if (exited !== undefined) throw new Error(`the operator exited (code ${exited}) before converging`);
    const text = await metrics();
    if (statusWrites(text) < COUNT || !idle(text)) continue;
    if (converged(await list<Qws>(cluster, 'qwenops.io/v1alpha1', 'QwenService', ns)) === COUNT) break;
  }
  const opMs = performance.now() - t1;
  const writes = (text: string) => [...text.matchAll(/^qwen_operator_kube_writes_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const convergedMetrics = await metrics();
  const writesAfterConverge = writes(convergedMetrics);
  const afterConverge = await probe();
  const reconciles = [...convergedMetrics.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const quietS = Number(process.env.QUIET_S ?? 60);
  await new Promise((r) => setTimeout(r, quietS * 1000));
  const writesAtRest = writes(await metrics()) - writesAfterConverge;
  const atRest = await probe();
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${op.pid}/status`, 'utf8'))?.[1] ?? 0);
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${op.pid}/status`, 'utf8'))?.[1] ?? 0);
  const gauge = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  const finalMetrics = await metrics();
  op.kill('SIGTERM');

  const row = (k: string, v: string) => process.stdout.write(`${k.padEnd(44)} ${v}\n`);
  process.stdout.write(`\noperator benchmark: ${COUNT} QwenServices (SLA + alerting: 7 children each), concurrency ${CONCURRENCY}\n`);
  row('operator launched as', `node ${[...imageNodeFlags, process.env.OP_NODE_OPTIONS ?? ''].join(' ').trim()} dist/src/cli.js${process.env.OP_MALLOC_ARENA_MAX ? ` (MALLOC_ARENA_MAX=${process.env.OP_MALLOC_ARENA_MAX})` : ''}`);
  row('bare client (create, then SSA children + status)', `${(bareMs / 1000).toFixed(1)} s, ${bareWrites} writes`);
  row('operator (running; create, until all converged)', `${(opMs / 1000).toFixed(1)} s, ${writesAfterConverge} writes`);
  row('ratio operator / bare (target <= 1.2)', (opMs / bareMs).toFixed(2));
  row('writes per QwenService (operator)', (writesAfterConverge / COUNT).toFixed(2));
  row(`writes at rest over ${quietS} s (target 0)`, String(writesAtRest));
  row('operator RSS now / peak (target <= 200 MB)', `${(rssKb / 1024).toFixed(0)} MB / ${(hwmKb / 1024).toFixed(0)} MB`);
  row('  of which V8 heap / external at their peak', `${(afterConverge.peakHeapTotalBytes / 2 ** 20).toFixed(0)} MB / ${(afterConverge.peakExternalBytes / 2 ** 20).toFixed(0)} MB (while converging)`);
  row('heap used per QwenService (target <= 15 KB)', `${((atRest.heapUsedAfterGcBytes - atStart.heapUsedAfterGcBytes) / COUNT / 1024).toFixed(1)} KB (live heap after a full GC at rest: ${(atRest.heapUsedAfterGcBytes / 2 ** 20).toFixed(0)} MB, before any: ${(atStart.heapUsedAfterGcBytes / 2 ** 20).toFixed(0)} MB)`);
  row('allocation per reconcile (V8 heap, converge)', `${((afterConverge.allocatedBytes - atStart.allocatedBytes) / Math.max(1, reconciles) / 1024).toFixed(0)} KB (${reconciles} reconciles, ${((afterConverge.allocatedBytes - atStart.allocatedBytes) / 2 ** 20).toFixed(0)} MB in all)`);
  row('operator CPU time (whole run)', `${(gauge(finalMetrics, 'process_cpu_seconds_total') * 2 ** 20).toFixed(1)} s`);
  row('operator V8 heap used / total, external', `${gauge(finalMetrics, 'nodejs_heap_size_used_bytes').toFixed(0)} / ${gauge(finalMetrics, 'nodejs_heap_size_total_bytes').toFixed(0)} MB, ${gauge(finalMetrics, 'nodejs_external_memory_bytes').toFixed(0)} MB`);
} finally {
  spawned?.kill('SIGKILL');
  await cluster.stop();
  rmSync(dist, { recursive: true, force: true });
}
