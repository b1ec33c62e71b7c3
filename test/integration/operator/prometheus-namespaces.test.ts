// Where Prometheus runs, from the chart value to the NetworkPolicy: `prometheusNamespaces` becomes
// `qwen-operator run --prometheus-namespaces`, and the operator process started with that flag
// opens the workers' metrics port to those namespaces only. The real CLI against the shared test
// control plane (no CNI here: the policy is checked as created, not as enforced).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { apply, get, installCrds, waitFor, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { toolPath } from '../../support/tools.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
type Deployment = KubeObject & { spec: { template: { spec: { containers: { args: string[] }[] } } } };
type NetworkPolicy = KubeObject & { spec: { ingress: { from: Record<string, unknown>[]; ports: { port: number }[] }[] } };

function operatorArgs(set: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(toolPath('helm'), ['template', 'qo', join(ROOT, 'charts', 'qwen-operator'), ...set.flatMap((s) => ['--set', s])], { maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`helm template: ${stderr || err.message}`));
      const dep = (loadAll(stdout) as KubeObject[]).find((o) => o?.kind === 'Deployment') as Deployment;
      resolve(dep.spec.template.spec.containers[0]!.args);
    });
  });
}

describe('chart value prometheusNamespaces', () => {
  it('becomes --prometheus-namespaces, and is absent by default (any namespace may scrape)', async () => {
    expect(await operatorArgs(['prometheusNamespaces={monitoring,prom}'])).toContain('--prometheus-namespaces=monitoring,prom');
    expect((await operatorArgs([])).filter((a) => a.startsWith('--prometheus-namespaces'))).toEqual([]);
  });
});

describe('qwen-operator run --prometheus-namespaces', () => {
  let ns: string;
  let proc: ChildProcess | undefined;
  let log = '';

  beforeAll(async () => {
    await installCrds(testCluster(), [join(ROOT, 'crds', 'qwenops.io_qwenservices.yaml')]);
    ns = await testNamespace('prom-ns');
    proc = spawn(join(ROOT, 'bin', 'qwen-operator'), [
      'run', '--kubeconfig', testCluster().kubeconfigPath, '--namespaces', ns, '--health-addr', '127.0.0.1:0',
      '--worker-image', 'qwen-worker:test', '--prometheus-namespaces', 'monitoring, prom',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  }, 60_000);

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
  }, 30_000);

  it('opens the metrics port to those namespaces only, the API port to this namespace', async () => {
    await apply(testCluster(), { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: ns }, spec: { gpu: { count: 0 } } });
    const np = await waitFor('NetworkPolicy from the operator process', () => get<NetworkPolicy>(testCluster(), 'networking.k8s.io/v1', 'NetworkPolicy', 'chat', ns), 60_000)
      .catch((e: unknown) => { throw new Error(`${String(e)}\noperator log:\n${log.slice(-4000)}`); });
    expect(np.spec.ingress).toEqual([
      { from: [{ podSelector: {} }], ports: [{ protocol: 'TCP', port: 8080 }] },
      { from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring', 'prom'] }] } }], ports: [{ protocol: 'TCP', port: 9090 }] },
    ]);
  }, 90_000);
});
