// The Helm chart with the real Helm against a real apiserver: lint, render modes, values schema,
// install into a namespace enforcing Pod Security "restricted", least privilege proven by running
// the operator as the chart's ServiceAccount (on a control plane with OpenShift's
// OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs `update` on
// qwenservices/finalizers), upgrade and uninstall.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_NODES, startCluster, type Cluster } from '../../cluster/cluster.ts';
import { apply, get, kubeCall, kubectl, list, newNamespace, waitFor, type KubeObject } from '../../cluster/client.ts';
import { cacheDir, toolPath } from '../../support/tools.ts';
import { startOperator } from '../../support/operator.ts';
import { OPERATOR_RULES } from '../../../src/rbac.ts';
import { KubeClient } from '../../../src/kube/client.ts';

const CHART = 'charts/qwen-operator';
type Run = { code: number; stdout: string; stderr: string };

function helm(args: string[], kubeconfig?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(toolPath('helm'), args, { env: { ...process.env, ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}), HELM_CACHE_HOME: join(tmpdir(), 'qwen-helm-cache'), HELM_CONFIG_HOME: join(tmpdir(), 'qwen-helm-config') }, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Waits until the apiserver's admission knows the QwenService kind. OwnerReferencesPermission-
 * Enforcement looks an ownerReference's kind up in a discovery cache the apiserver refreshes every
 * 30 s; until then it refuses every blockOwnerDeletion to a QwenService ("cannot find
 * RESTMapping"), whatever RBAC grants. Asked as `kubeconfig`'s user (cluster admins skip the lookup).
 */
async function waitOwnerKindMapped(kubeconfig: string, namespace: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new KubeClient(kc);
  const probe = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner-probe', namespace, ownerReferences: [
    { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', name: 'probe', uid: '00000000-0000-0000-0000-000000000000', controller: true, blockOwnerDeletion: true },
  ] } };
  await waitFor('QwenService known to admission', async () => {
    try {
      await client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, { body: probe, query: { dryRun: 'All' } });
      return true;
    } catch (e) {
      return !/cannot find RESTMapping/.test(String(e));
    }
  }, 60_000, 1_000);
}

const kinds = (yaml: string) => (loadAll(yaml) as KubeObject[]).filter(Boolean).map((o) => `${o.kind}/${o.metadata.name}`).sort();

describe('chart, offline', () => {
  it('passes helm lint --strict', async () => {
    const r = await helm(['lint', '--strict', CHART]);
    expect(r.stdout + r.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('renders the default, namespaced and self-monitoring modes', async () => {
    const def = await helm(['template', 'qo', CHART, '--namespace', 'qwen-system']);
    expect(def.code).toBe(0);
    expect(kinds(def.stdout)).toEqual(['ClusterRole/qo-qwen-operator', 'ClusterRoleBinding/qo-qwen-operator', 'Deployment/qo-qwen-operator', 'Role/qo-qwen-operator-leader-election', 'RoleBinding/qo-qwen-operator-leader-election', 'Service/qo-qwen-operator-metrics', 'ServiceAccount/qo-qwen-operator']);
    const ns = await helm(['template', 'qo', CHART, '--namespace', 'team-a', '--set', 'namespaced=true']);
    expect(kinds(ns.stdout)).toEqual(expect.arrayContaining(['Role/qo-qwen-operator', 'RoleBinding/qo-qwen-operator']));
    expect(ns.stdout).toContain('--namespaces=team-a');
    expect(ns.stdout).not.toContain('ClusterRole');
    const mon = await helm(['template', 'qo', CHART, '--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.serviceMonitor.labels.release=kube-prometheus-stack']);
    expect(kinds(mon.stdout)).toContain('ServiceMonitor/qo-qwen-operator');
    expect(mon.stdout).toContain('release: kube-prometheus-stack');
  });

  it('with watchNamespaces, grants a Role in each watched namespace and nothing cluster-wide', async () => {
    const r = await helm(['template', 'qo', CHART, '--namespace', 'qwen-system', '--set', 'watchNamespaces={team-a,team-b}']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    type Rbac = KubeObject & { rules?: unknown; roleRef?: { kind: string; name: string }; subjects?: Array<{ kind: string; name: string; namespace: string }> };
    const objs = (loadAll(r.stdout) as Rbac[]).filter(Boolean);
    expect(objs.filter((o) => o.kind.startsWith('Cluster')).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    const roles = objs.filter((o) => o.kind === 'Role' && o.metadata.name === 'qo-qwen-operator');
    expect(roles.map((o) => o.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
    for (const role of roles) expect(role.rules).toEqual(OPERATOR_RULES);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'qo-qwen-operator');
    expect(bindings.map((b) => [b.metadata.namespace, b.roleRef, b.subjects]).sort()).toEqual(['team-a', 'team-b'].map((ns) => [
      ns, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'qo-qwen-operator' }, [{ kind: 'ServiceAccount', name: 'qo-qwen-operator', namespace: 'qwen-system' }],
    ]));
    // Leader election stays in the release namespace; the operator watches exactly those namespaces.
    expect(objs.filter((o) => o.kind === 'Role').map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort()).toEqual(['qwen-system/qo-qwen-operator-leader-election', 'team-a/qo-qwen-operator', 'team-b/qo-qwen-operator']);
    expect(r.stdout).toContain('--namespaces=team-a,team-b');
  });

  it('passes the router image (default qwen-router:<appVersion>) and the KEDA namespaces to the operator', async () => {
    const args = async (set: string[]) => {
      const r = await helm(['template', 'qo', CHART, ...set.flatMap((x) => ['--set', x])]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      return ((loadAll(r.stdout) as Array<KubeObject & { spec?: { template: { spec: { containers: { args: string[] }[] } } } }>).find((o) => o?.kind === 'Deployment')!).spec!.template.spec.containers[0]!.args;
    };
    const appVersion = /^appVersion: "?([^"\n]+)"?$/m.exec(readFileSync(`${CHART}/Chart.yaml`, 'utf8'))![1];
    const def = await args([]);
    expect(def).toContain(`--router-image=ghcr.io/qwenops/qwen-router:${appVersion}`);
    expect(def.filter((a) => a.startsWith('--keda-namespaces'))).toEqual([]);
    const set = await args(['router.image.repository=reg.example/r', 'router.image.tag=v9', 'kedaNamespaces={keda,ops}']);
    expect(set).toEqual(expect.arrayContaining(['--router-image=reg.example/r:v9', '--keda-namespaces=keda,ops']));
  });

  it('rejects bad values through values.schema.json with a message naming the value', async () => {
    const r = await helm(['template', 'qo', CHART, '--set', 'logLevel=loud']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/logLevel/);
    const typo = await helm(['template', 'qo', CHART, '--set', 'replicas=3']);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/replicas/);
  });

  it('ships the generated CRD and the operator\'s own RBAC list', async () => {
    expect(readFileSync(`${CHART}/crds/qwenops.io_qwenservices.yaml`, 'utf8')).toBe(readFileSync('crds/qwenops.io_qwenservices.yaml', 'utf8'));
    const def = await helm(['template', 'qo', CHART]);
    const role = (loadAll(def.stdout) as Array<KubeObject & { rules?: unknown }>).find((o) => o?.kind === 'ClusterRole')!;
    expect(role.rules).toEqual(OPERATOR_RULES);
  });

  it('matches manifests/install.yaml (rendered with default values)', async () => {
    const def = await helm(['template', 'qwen-operator', CHART, '--namespace', 'qwen-system', '--include-crds']);
    expect(readFileSync('manifests/install.yaml', 'utf8')).toBe(`# Generated: helm template qwen-operator charts/qwen-operator --namespace qwen-system --include-crds\n${def.stdout}`);
  });
});

describe('chart, installed', () => {
  let cluster: Cluster;
  let ns: string;
  beforeAll(async () => {
    cluster = await startCluster({ controllers: true, scheduler: true, kwokNodes: DEFAULT_NODES, crds: [join(cacheDir, 'prometheus-operator-crds')] });
    ns = await newNamespace(cluster, 'qwen-system', { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' });
  }, 120_000);
  afterAll(async () => { await cluster?.stop(); }, 60_000);

  it('installs into a namespace enforcing "restricted"; the operator pods are scheduled', async () => {
    const r = await helm(['install', 'qo', CHART, '--namespace', ns, '--wait', '--timeout', '90s'], cluster.kubeconfigPath);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('kubectl get qws');
    const pods = await waitFor('2 operator pods running', async () => {
      const p = await list<KubeObject & { status: { phase: string } }>(cluster, 'v1', 'Pod', ns, 'app.kubernetes.io/name=qwen-operator');
      return p.length === 2 && p.every((x) => x.status.phase === 'Running') ? p : undefined;
    }, 60_000);
    expect(pods).toHaveLength(2);
    expect(await get(cluster, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'qwenservices.qwenops.io')).toBeDefined();
  }, 150_000);

  it('grants exactly the operator\'s list: running as the chart\'s ServiceAccount meets no "forbidden"', async () => {
    const sa = 'qo-qwen-operator';
    const tr = await kubeCall(cluster, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    const dir = mkdtempSync(join(tmpdir(), 'qwen-sa-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: c', '  cluster:', `    server: ${cluster.server}`, `    certificate-authority: ${cluster.caFile}`,
      'users:', '- name: sa', '  user:', `    token: ${tr.status.token}`,
      'contexts:', '- name: c', '  context: { cluster: c, user: sa }', 'current-context: c', '',
    ].join('\n'));

    const can = await kubectl(cluster, ['auth', 'can-i', '--list', `--as=system:serviceaccount:${ns}:${sa}`, '-n', 'default']);
    expect(can.code).toBe(0);
    const granted = can.stdout.split('\n').slice(1).filter((l) => l.trim() && !/selfsubject|nonResourceURLs|\[\/api|\[\/version|\[\/healthz|\[\/livez|\[\/readyz|\[\/openapi|\[\/\.well-known/.test(l));
    expect(can.stdout).not.toMatch(/^\*\s/m);
    for (const line of granted) expect([line, /\[\*\]/.test(line)]).toEqual([line, false]);

    await waitOwnerKindMapped(kubeconfig, ns);
    const op = await startOperator(kubeconfig);
    try {
      const app = await newNamespace(cluster, 'lp');
      // With a router: the operator writes its Role (EndpointSlices) and RoleBinding, which the
      // apiserver allows only to whoever holds what the Role grants (escalation prevention).
      await apply(cluster, { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: app }, spec: {
        replicas: 2, gpu: { count: 0 }, sla: { latency: { p95: '3s' }, errorRate: '1%' }, router: {},
        alerting: { receivers: [{ name: 'hook', webhook: { url: { secretKeyRef: { name: 'hook', key: 'url' } } } }], routes: { critical: ['hook'] } },
      } });
      for (const [apiVersion, kind] of [['apps/v1', 'Deployment'], ['v1', 'Service'], ['policy/v1', 'PodDisruptionBudget'], ['monitoring.coreos.com/v1', 'ServiceMonitor'], ['monitoring.coreos.com/v1', 'PrometheusRule'], ['monitoring.coreos.com/v1alpha1', 'AlertmanagerConfig']] as const) {
        await waitFor(`${kind} created as the ServiceAccount`, () => get(cluster, apiVersion, kind, 'chat', app), 60_000);
      }
      for (const [apiVersion, kind] of [['apps/v1', 'Deployment'], ['v1', 'ServiceAccount'], ['rbac.authorization.k8s.io/v1', 'Role'], ['rbac.authorization.k8s.io/v1', 'RoleBinding'], ['policy/v1', 'PodDisruptionBudget']] as const) {
        await waitFor(`router ${kind} created as the ServiceAccount`, () => get(cluster, apiVersion, kind, 'chat-router', app), 60_000);
      }
      await waitFor('status written as the ServiceAccount', async () => {
        const q = await get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(cluster, 'qwenops.io/v1alpha1', 'QwenService', 'chat', app);
        return q?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      }, 90_000);
      const metrics = await op.metrics.registry.getSingleMetricAsString('controller_runtime_reconcile_errors_total');
      expect(metrics).not.toMatch(/controller_runtime_reconcile_errors_total\{[^}]*\} [1-9]/);
    } finally {
      await op.stop();
    }
  }, 180_000);

  it('with watchNamespaces, works in them as its ServiceAccount and may write Deployments, Services, ConfigMaps nowhere else', async () => {
    const app = await newNamespace(cluster, 'watched');
    const other = await newNamespace(cluster, 'unwatched');
    const rel = await newNamespace(cluster, 'qwen-scoped');
    const r = await helm(['install', 'qw', CHART, '--namespace', rel, '--set', `watchNamespaces={${app}}`, '--set', 'replicaCount=1'], cluster.kubeconfigPath);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const sa = 'qw-qwen-operator';
    const as = `--as=system:serviceaccount:${rel}:${sa}`;
    const can = async (verb: string, resource: string, where: string[]) => (await kubectl(cluster, ['auth', 'can-i', verb, resource, as, ...where])).stdout.trim();
    for (const [verb, resource] of [['create', 'deployments.apps'], ['patch', 'deployments.apps'], ['delete', 'deployments.apps'], ['create', 'services'], ['patch', 'services'], ['create', 'configmaps'], ['patch', 'configmaps'], ['delete', 'configmaps']] as const) {
      expect([verb, resource, await can(verb, resource, ['-n', app])]).toEqual([verb, resource, 'yes']);
      expect([verb, resource, await can(verb, resource, ['-n', other])]).toEqual([verb, resource, 'no']);
      expect([verb, resource, await can(verb, resource, ['-n', 'kube-system'])]).toEqual([verb, resource, 'no']);
      expect([verb, resource, await can(verb, resource, ['--all-namespaces'])]).toEqual([verb, resource, 'no']);
    }
    type Binding = KubeObject & { subjects?: Array<{ kind: string; name: string; namespace?: string }> };
    const clusterWide = (await list<Binding>(cluster, 'rbac.authorization.k8s.io/v1', 'ClusterRoleBinding')).filter((b) => b.subjects?.some((x) => x.name === sa && x.namespace === rel));
    expect(clusterWide).toEqual([]);

    // Least privilege that still works: the operator as that ServiceAccount, watching `app` only.
    const tr = await kubeCall(cluster, 'POST', `/api/v1/namespaces/${rel}/serviceaccounts/${sa}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'qwen-sa-')), 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: c', '  cluster:', `    server: ${cluster.server}`, `    certificate-authority: ${cluster.caFile}`,
      'users:', '- name: sa', '  user:', `    token: ${tr.status.token}`,
      'contexts:', '- name: c', '  context: { cluster: c, user: sa }', 'current-context: c', '',
    ].join('\n'));
    await waitOwnerKindMapped(kubeconfig, app);
    const op = await startOperator(kubeconfig, { namespaces: [app] });
    try {
      await apply(cluster, { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: app }, spec: { replicas: 1, gpu: { count: 0 }, sla: { latency: { p95: '3s' } } } });
      for (const [apiVersion, kind, name] of [['apps/v1', 'Deployment', 'chat'], ['v1', 'Service', 'chat'], ['v1', 'ConfigMap', 'chat-dashboard'], ['monitoring.coreos.com/v1', 'ServiceMonitor', 'chat']] as const) {
        await waitFor(`${kind} created as the scoped ServiceAccount`, () => get(cluster, apiVersion, kind, name, app), 60_000);
      }
      await waitFor('status written as the scoped ServiceAccount', async () => {
        const q = await get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(cluster, 'qwenops.io/v1alpha1', 'QwenService', 'chat', app);
        return q?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      }, 90_000);
      const errors = await op.metrics.registry.getSingleMetricAsString('controller_runtime_reconcile_errors_total');
      expect(errors).not.toMatch(/controller_runtime_reconcile_errors_total\{[^}]*\} [1-9]/);
    } finally {
      await op.stop();
      await helm(['uninstall', 'qw', '--namespace', rel, '--wait'], cluster.kubeconfigPath);
    }
  }, 180_000);

  it('upgrades (CRDs in crds/ are left alone, as Helm documents) and uninstalls (the CRD stays)', async () => {
    // A newer chart whose CRD changed: Helm leaves CRDs alone on upgrade; the README's
    // `kubectl apply --server-side --force-conflicts -f charts/qwen-operator/crds/` upgrades them.
    const newer = mkdtempSync(join(tmpdir(), 'qwen-chart-'));
    cpSync(CHART, newer, { recursive: true });
    const crdFile = join(newer, 'crds/qwenops.io_qwenservices.yaml');
    writeFileSync(crdFile, readFileSync(crdFile, 'utf8').replace('Number of worker pods.', 'Number of worker pods (v2).'));
    const crdDescription = async () => JSON.stringify(await get(cluster, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'qwenservices.qwenops.io')).includes('Number of worker pods (v2).');
    const up = await helm(['upgrade', 'qo', newer, '--namespace', ns, '--set', 'logLevel=debug', '--wait', '--timeout', '90s'], cluster.kubeconfigPath);
    expect([up.code, up.stderr]).toEqual([0, '']);
    expect(await crdDescription()).toBe(false);
    expect((await kubectl(cluster, ['apply', '--server-side', '--force-conflicts', '-f', join(newer, 'crds')])).code).toBe(0);
    expect(await crdDescription()).toBe(true);
    const dep = await get<KubeObject & { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }>(cluster, 'apps/v1', 'Deployment', 'qo-qwen-operator', ns);
    expect(dep!.spec.template.spec.containers[0]!.args).toContain('--log-level=debug');
    const un = await helm(['uninstall', 'qo', '--namespace', ns, '--wait'], cluster.kubeconfigPath);
    expect(un.code).toBe(0);
    await waitFor('operator Deployment gone', async () => (await get(cluster, 'apps/v1', 'Deployment', 'qo-qwen-operator', ns)) === undefined, 60_000);
    expect(await get(cluster, 'rbac.authorization.k8s.io/v1', 'ClusterRole', 'qo-qwen-operator')).toBeUndefined();
    expect(await get(cluster, 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'qwenservices.qwenops.io')).toBeDefined();
  }, 150_000);
});
