// The real consumer of our monitoring objects: prometheus-operator (built from its Go module by
// test/tools/build-prometheus-operator.sh) against a real apiserver, with a Prometheus and an
// Alertmanager CR selecting our objects by label. It must accept our ServiceMonitor,
// PrometheusRule and AlertmanagerConfig (selected, none rejected, no errors logged for them),
// put our rule groups in its rule ConfigMap and our routes — under its namespace matcher — in its
// generated Alertmanager configuration; promtool and amtool must accept what it generated.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { load } from 'js-yaml';
import { startCluster, freePort, type Cluster } from '../cluster/cluster.ts';
import { apply, create, get, list, newNamespace, waitFor, type KubeObject } from '../cluster/client.ts';
import { cacheDir, toolPath } from '../support/tools.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';

const QWS = 'qwenops.io/v1alpha1';
const SELECT = { release: 'e2e-stack' };

const run = (bin: string, args: string[]) => new Promise<{ code: number; out: string }>((resolve) => {
  execFile(bin, args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
});

describe('prometheus-operator accepts what the operator generates', () => {
  let cluster: Cluster;
  let op: RunningOperator;
  let po: ChildProcess;
  let poLog: string;
  let poMetrics: string;
  let ns: string;
  const dir = mkdtempSync(join(tmpdir(), 'qwen-po-'));

  beforeAll(async () => {
    cluster = await startCluster({ crds: [join(process.cwd(), 'crds'), join(cacheDir, 'prometheus-operator-crds')] });
    ns = await newNamespace(cluster, 'po');
    op = await startOperator(cluster.kubeconfigPath, { namespaces: [ns] });
    await create(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook', namespace: ns }, stringData: { url: 'http://127.0.0.1:9/alerts' } });
    await create(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pd', namespace: ns }, stringData: { key: 'routing-key-0123456789' } });
    await apply(cluster, {
      apiVersion: QWS, kind: 'QwenService', metadata: { name: 'chat', namespace: ns },
      spec: {
        gpu: { count: 0 },
        sla: { latency: { p95: '3s', p99: '5s' }, timeToFirstToken: { p95: '800ms' }, outputTokensPerSecond: { min: 20 }, errorRate: '0.1%', availability: '99.5%' },
        monitoring: { serviceMonitor: { labels: SELECT }, ruleLabels: SELECT, alertmanagerConfigLabels: SELECT },
        alerting: {
          receivers: [{ name: 'hook', webhook: { url: { secretKeyRef: { name: 'hook', key: 'url' } } } }, { name: 'pager', pagerduty: { routingKey: { secretKeyRef: { name: 'pd', key: 'key' } } } }],
          routes: { critical: ['pager', 'hook'], warning: ['hook'] },
        },
      },
    } as KubeObject);
    for (const kind of ['ServiceMonitor', 'PrometheusRule']) await waitFor(kind, () => list(cluster, 'monitoring.coreos.com/v1', kind, ns).then((l) => l.length > 0), 30_000);
    await waitFor('AlertmanagerConfig', () => list(cluster, 'monitoring.coreos.com/v1alpha1', 'AlertmanagerConfig', ns).then((l) => l.length > 0), 30_000);

    await apply(cluster, {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus', metadata: { name: 'k8s', namespace: ns },
      spec: { serviceMonitorSelector: { matchLabels: SELECT }, serviceMonitorNamespaceSelector: {}, ruleSelector: { matchLabels: SELECT }, ruleNamespaceSelector: {}, alerting: { alertmanagers: [{ name: 'alertmanager-main', namespace: ns, port: 'web' }] } },
    });
    await apply(cluster, {
      apiVersion: 'monitoring.coreos.com/v1', kind: 'Alertmanager', metadata: { name: 'main', namespace: ns },
      spec: { alertmanagerConfigSelector: { matchLabels: SELECT }, alertmanagerConfigNamespaceSelector: {} },
    });

    const port = await freePort();
    poLog = join(dir, 'prometheus-operator.log');
    const fd = openSync(poLog, 'a');
    po = spawn(toolPath('prometheus-operator'), [`--namespaces=${ns}`, `--web.listen-address=127.0.0.1:${port}`, '--log-level=debug', '--kubelet-service='], {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath }, stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    poMetrics = `http://127.0.0.1:${port}/metrics`;
  }, 180_000);

  afterAll(async () => {
    po?.kill('SIGTERM');
    await op?.stop();
    await cluster?.stop();
  }, 60_000);

  it('puts our rule groups in its rule ConfigMap, and they pass promtool check rules', async () => {
    const ours = (await list<KubeObject & { spec: { groups: { name: string }[] } }>(cluster, 'monitoring.coreos.com/v1', 'PrometheusRule', ns))[0]!;
    const cm = await waitFor('rule ConfigMap with our groups', async () => {
      const cms = (await list<KubeObject & { data?: Record<string, string> }>(cluster, 'v1', 'ConfigMap', ns)).filter((c) => c.metadata.name.startsWith('prometheus-k8s-rulefiles'));
      return cms.find((c) => Object.values(c.data ?? {}).some((t) => t.includes(ours.spec.groups[0]!.name)));
    }, 90_000, 1_000);
    const [file, text] = Object.entries(cm.data!).find(([, t]) => t.includes(ours.spec.groups[0]!.name))!;
    const groups = (load(text) as { groups: { name: string }[] }).groups.map((g) => g.name);
    expect(groups).toEqual(ours.spec.groups.map((g) => g.name));
    writeFileSync(join(dir, file), text);
    const check = await run(toolPath('promtool'), ['check', 'rules', join(dir, file)]);
    expect(check.out).toMatch(/SUCCESS/);
    expect(check.code).toBe(0);
  }, 120_000);

  it('generates a Prometheus configuration with our ServiceMonitor that promtool accepts', async () => {
    const secret = await waitFor('prometheus-k8s config Secret', async () => {
      const s = await get<KubeObject & { data?: Record<string, string> }>(cluster, 'v1', 'Secret', 'prometheus-k8s', ns);
      const gz = s?.data?.['prometheus.yaml.gz'];
      if (!gz) return undefined;
      const text = gunzipSync(Buffer.from(gz, 'base64')).toString('utf8');
      return text.includes(`serviceMonitor/${ns}/chat/`) ? text : undefined;
    }, 90_000, 1_000);
    writeFileSync(join(dir, 'prometheus.yaml'), secret);
    const check = await run(toolPath('promtool'), ['check', 'config', '--syntax-only', join(dir, 'prometheus.yaml')]);
    expect(check.out).toMatch(/SUCCESS/);
    expect(check.code).toBe(0);
  }, 120_000);

  it('generates an Alertmanager configuration with our routes under its namespace matcher that amtool accepts', async () => {
    const text = await waitFor('alertmanager-main-generated with our routes', async () => {
      const s = await get<KubeObject & { data?: Record<string, string> }>(cluster, 'v1', 'Secret', 'alertmanager-main-generated', ns);
      const gz = s?.data?.['alertmanager.yaml.gz'];
      if (!gz) return undefined;
      const t = gunzipSync(Buffer.from(gz, 'base64')).toString('utf8');
      return t.includes(`namespace="${ns}"`) && /QwenSLOBudgetBurn|qwenservice/.test(t) ? t : undefined;
    }, 90_000, 1_000);
    writeFileSync(join(dir, 'alertmanager.yaml'), text);
    const cfg = load(text) as { route: { routes?: { matchers?: string[]; routes?: unknown[] }[] }; receivers: { name: string }[] };
    const ourRoute = cfg.route.routes?.find((r) => r.matchers?.includes(`namespace="${ns}"`));
    expect(ourRoute).toBeDefined();
    // prometheus-operator prefixes receivers with <namespace>/<AlertmanagerConfig name>/.
    expect(cfg.receivers.map((r) => r.name).filter((n) => n.startsWith(`${ns}/`)).length).toBeGreaterThanOrEqual(2);
    const check = await run(toolPath('amtool'), ['check-config', join(dir, 'alertmanager.yaml')]);
    expect(check.out).toMatch(/SUCCESS/);
    expect(check.code).toBe(0);
    // A page reaches the pager and the hook, a ticket only the hook.
    const routes = async (labels: string[]) => (await run(toolPath('amtool'), ['config', 'routes', 'test', `--config.file=${join(dir, 'alertmanager.yaml')}`, ...labels])).out.trim();
    const page = await routes(['alertname=QwenSLOBudgetBurn', `namespace=${ns}`, 'qwenservice=chat', 'slo=latency-p95', 'severity=critical']);
    expect(page).toMatch(/pager/);
    const ticket = await routes(['alertname=QwenSLOBudgetBurn', `namespace=${ns}`, 'qwenservice=chat', 'slo=latency-p95', 'severity=warning']);
    expect(ticket).toMatch(/hook/);
    expect(ticket).not.toMatch(/pager/);
  }, 120_000);

  it('selected every object of ours and rejected none, with no error logged about them', async () => {
    const text = await (await fetch(poMetrics)).text();
    const value = (resource: string, state: string) => text.split('\n')
      .filter((l) => l.startsWith('prometheus_operator_managed_resources{') && l.includes(`resource="${resource}"`) && l.includes(`state="${state}"`))
      .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    expect(value('ServiceMonitor', 'selected') + value('servicemonitors', 'selected')).toBeGreaterThanOrEqual(1);
    expect(value('PrometheusRule', 'selected') + value('prometheusrules', 'selected')).toBeGreaterThanOrEqual(1);
    expect(value('AlertmanagerConfig', 'selected') + value('alertmanagerconfigs', 'selected')).toBeGreaterThanOrEqual(1);
    for (const r of ['ServiceMonitor', 'servicemonitors', 'PrometheusRule', 'prometheusrules', 'AlertmanagerConfig', 'alertmanagerconfigs']) expect(value(r, 'rejected')).toBe(0);
    const problems = readFileSync(poLog, 'utf8').split('\n').filter((l) => /level=(error|warn)/.test(l) && /chat|qwen|alertmanagerconfig|servicemonitor|prometheusrule/i.test(l) && !/kubelet/i.test(l));
    expect(problems).toEqual([]);
  }, 60_000);
});
