// Operating the operator: monitoring CRDs that arrive after start-up, and leader election with
// two real `qwen-operator run` processes (the leader killed, the standby takes over).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../cluster/cluster.ts';
import { apply, get, newNamespace, waitFor, type KubeObject } from '../../cluster/client.ts';
import { cacheDir } from '../../support/tools.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import type { Qws } from '../../support/qws.ts';

const PROM_CRDS = join(cacheDir, 'prometheus-operator-crds');
const QWS = 'qwenops.io/v1alpha1';
const qws = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec });

let cluster: Cluster;
beforeAll(async () => {
  // No controller-manager or nodes: these tests look at the operator's own objects only.
  cluster = await startCluster({ crds: ['crds'] });
}, 120_000);
afterAll(async () => { await cluster?.stop(); }, 60_000);

describe('monitoring CRDs installed after the operator started', () => {
  let op: RunningOperator;
  afterAll(async () => { await op?.stop(); });

  it('reports PrometheusOperatorMissing, keeps the workload, then creates the monitoring objects without a restart', async () => {
    op = await startOperator(cluster.kubeconfigPath, { monitoringCheckIntervalMs: 500 });
    const ns = await newNamespace(cluster, 'mon');
    await apply(cluster, qws(ns, 'chat', { gpu: { count: 0 }, sla: { latency: { p95: '3s' } } }));
    const q = await waitFor('MonitoringReady=False', async () => {
      const cur = await get<Qws>(cluster, QWS, 'QwenService', 'chat', ns);
      const c = cur?.status?.conditions?.find((x) => x.type === 'MonitoringReady');
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    expect(q.reason).toBe('PrometheusOperatorMissing');
    expect(q.message).toContain('ServiceMonitor');
    expect(await get(cluster, 'apps/v1', 'Deployment', 'chat', ns)).toBeDefined();

    await cluster.installCrds([PROM_CRDS]);
    await waitFor('ServiceMonitor created', () => get(cluster, 'monitoring.coreos.com/v1', 'ServiceMonitor', 'chat', ns), 30_000);
    await waitFor('PrometheusRule created', () => get(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', 'chat', ns), 30_000);
    await waitFor('MonitoringReady=True', async () => {
      const cur = await get<Qws>(cluster, QWS, 'QwenService', 'chat', ns);
      return cur?.status?.conditions?.find((x) => x.type === 'MonitoringReady')?.status === 'True';
    }, 30_000);
  }, 90_000);
});

describe('leader election', () => {
  const procs: ChildProcess[] = [];
  afterAll(() => { for (const p of procs) p.kill('SIGKILL'); });

  const run = (identity: string): ChildProcess => {
    const p = spawn('bin/qwen-operator', ['run', '--leader-elect', '--lease-namespace=default', '--lease-name=qwen-test-leader', `--identity=${identity}`, '--health-addr=127.0.0.1:0', '--log-level=warn'], {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.push(p);
    return p;
  };
  const holder = async () => (await get<KubeObject & { spec: { holderIdentity?: string } }>(cluster, 'coordination.k8s.io/v1', 'Lease', 'qwen-test-leader', 'default'))?.spec.holderIdentity;

  it('one replica reconciles; when it dies the standby takes over within the lease duration', async () => {
    const a = run('op-a');
    await waitFor('op-a leads', async () => (await holder()) === 'op-a', 30_000);
    run('op-b');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await holder()).toBe('op-a');

    const ns = await newNamespace(cluster, 'leader');
    await apply(cluster, qws(ns, 'one', { gpu: { count: 0 } }));
    await waitFor('leader reconciles', () => get(cluster, 'apps/v1', 'Deployment', 'one', ns), 30_000);

    a.kill('SIGKILL'); // no chance to release the lease
    const killedAt = Date.now();
    await waitFor('op-b takes the lease', async () => (await holder()) === 'op-b', 40_000, 500);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    await apply(cluster, qws(ns, 'two', { gpu: { count: 0 } }));
    await waitFor('new leader reconciles', () => get(cluster, 'apps/v1', 'Deployment', 'two', ns), 30_000);
  }, 120_000);
});
