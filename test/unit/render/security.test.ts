// Issue 13, operator side, as rendered: the API key Secret mounted into the worker pod and the
// worker started with --api-key-file; metrics on their own port; the NetworkPolicy per
// QwenService; no user URL reaching a Prometheus Go template; the operator's RBAC without Secrets.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { computeStatus } from '../../../src/controller/status.ts';
import { OPERATOR_RULES } from '../../../src/rbac.ts';
import { defaultRenderConfig, endpointStatus, type KubeObject, type RenderConfig } from '../../../src/render/common.ts';
import { OWNED_KINDS, renderAll } from '../../../src/render/index.ts';
import { renderNetworkPolicy } from '../../../src/render/networkpolicy.ts';
import { renderPrometheusRule } from '../../../src/render/prometheusrule.ts';
import { renderServiceMonitor } from '../../../src/render/servicemonitor.ts';
import { API_KEY_FILE, renderDeployment, renderService } from '../../../src/render/workload.ts';
import { compileSla } from '../../../src/sla/rules.ts';
import { parseConfig } from '../../../worker/src/config.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

type Volume = { name: string; secret?: { secretName: string; items: { key: string; path: string }[]; defaultMode: number } };
type Mount = { name: string; mountPath: string; readOnly?: boolean; subPath?: string };
type Container = { args: string[]; ports: { name: string; containerPort: number }[]; volumeMounts: Mount[] };
type PodSpec = { securityContext: { runAsUser: number; runAsGroup: number; fsGroup: number }; containers: Container[]; volumes: Volume[] };
type Peer = Record<string, unknown>;
type NetworkPolicy = KubeObject & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from: Peer[]; ports: { protocol: string; port: number }[] }[] } };

const qws = (spec: Record<string, unknown> = {}, name = 'chat') =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace: 'team-a', uid: 'uid-1' }, spec });
const podOf = (spec: Record<string, unknown>, config: RenderConfig = defaultRenderConfig) =>
  (renderDeployment(resolvePlan(qws(spec), config)) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
/** The value of a `--flag=value` word; undefined when the flag is absent. */
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
const auth = { apiKey: { secretKeyRef: { name: 'chat-api-keys', key: 'keys' } } };

describe('worker pod with spec.auth', () => {
  it.each([
    ['no spec.auth: the worker runs open, nothing mounted', {}, undefined],
    ['spec.auth: the Secret key mounted read-only, the worker started with --api-key-file', { auth }, { secretName: 'chat-api-keys', key: 'keys' }],
    ['another Secret and key', { auth: { apiKey: { secretKeyRef: { name: 'gw.tokens', key: 'tokens.txt' } } } }, { secretName: 'gw.tokens', key: 'tokens.txt' }],
  ] as const)('%s', (_name, spec, want) => {
    const pod = podOf(spec);
    const c = pod.containers[0]!;
    const volume = pod.volumes.find((v) => v.secret);
    const mount = c.volumeMounts.find((m) => m.name === volume?.name);
    if (!want) {
      expect([volume, flag(c.args, '--api-key-file')]).toEqual([undefined, undefined]);
      return;
    }
    expect(volume!.secret).toEqual({ secretName: want.secretName, items: [{ key: want.key, path: 'keys' }], defaultMode: 0o440 });
    // A directory mount (no subPath): the kubelet's atomic update of a rotated Secret reaches the file.
    expect(mount).toEqual({ name: volume!.name, mountPath: '/etc/qwen-worker/api-key', readOnly: true });
    expect(flag(c.args, '--api-key-file')).toBe(API_KEY_FILE);
    expect(API_KEY_FILE).toBe(`${mount!.mountPath}/keys`);
    // 0440 root:fsGroup: the non-root worker reads the key through its group, nobody else can.
    expect(pod.securityContext).toMatchObject({ runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 });
  });

  it('renders arguments the real worker accepts (flag names are a contract)', () => {
    const args = podOf({ auth }).containers[0]!.args;
    const config = parseConfig(args, {}) as ReturnType<typeof parseConfig> & { apiKeyFile?: string };
    expect(config.port).toBe(defaultRenderConfig.workerPort);
    expect(config.metricsPort).toBe(defaultRenderConfig.metricsPort);
    expect(config.apiKeyFile).toBe(API_KEY_FILE);
  });

  it('says in status that a key is needed, naming the Secret but never a key', () => {
    expect(endpointStatus(qws(), defaultRenderConfig)).toEqual({ endpoint: 'http://chat.team-a.svc:8080/v1' });
    const s = computeStatus(resolvePlan(qws({ auth }), defaultRenderConfig), { pods: [], missingMonitoringKinds: [], monitoringRequested: false }, 'now');
    expect(s.endpoint).toBe('http://chat.team-a.svc:8080/v1');
    expect(s.endpointAuth).toMatch(/API key required.*Bearer.*Secret chat-api-keys, key keys/);
  });
});

describe('metrics on their own port', () => {
  it('the worker serves /metrics on the metrics port, the Service exposes it, the ServiceMonitor scrapes it', () => {
    const pod = podOf({});
    const c = pod.containers[0]!;
    expect(flag(c.args, '--metrics-port')).toBe(String(defaultRenderConfig.metricsPort));
    expect(c.ports.map((p) => [p.name, p.containerPort])).toEqual([['http', 8080], ['metrics', 9090]]);
    const svc = renderService(resolvePlan(qws(), defaultRenderConfig)) as KubeObject & { spec: { ports: { name: string; port: number; targetPort: string }[] } };
    expect(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([['http', 8080, 'http'], ['metrics', 9090, 'metrics']]);
    const sm = renderServiceMonitor(resolvePlan(qws(), defaultRenderConfig)) as KubeObject & { spec: { endpoints: { port: string }[] } };
    expect(sm.spec.endpoints.map((e) => e.port)).toEqual(['metrics']);
  });
});

describe('NetworkPolicy', () => {
  const sameNamespace = { podSelector: {} };
  const anyNamespace = { namespaceSelector: {} };
  const gateway = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateway' } } };
  const office = { ipBlock: { cidr: '192.168.10.0/24', except: ['192.168.10.128/25'] } };
  const prometheusIn = (...ns: string[]) => ({ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ns }] } });

  it.each([
    ['default: API from this namespace, metrics from any namespace', {}, [], [sameNamespace], [anyNamespace]],
    ['allowFrom adds peers to the API port only', { network: { allowFrom: [gateway, office] } }, [], [sameNamespace, gateway, office], [anyNamespace]],
    ['--prometheus-namespaces restricts the metrics port', {}, ['monitoring'], [sameNamespace], [prometheusIn('monitoring')]],
    ['several Prometheus namespaces, deduplicated and sorted', { network: { policy: true } }, ['prom-b', 'prom-a', 'prom-b'], [sameNamespace], [prometheusIn('prom-a', 'prom-b')]],
  ] as const)('%s', (_name, spec, prometheusNamespaces, api, metrics) => {
    const config = { ...defaultRenderConfig, prometheusNamespaces: [...prometheusNamespaces] };
    const np = renderNetworkPolicy(qws(spec), config) as NetworkPolicy;
    expect(np.apiVersion).toBe('networking.k8s.io/v1');
    expect(np.metadata).toMatchObject({ name: 'chat', namespace: 'team-a', ownerReferences: [expect.objectContaining({ kind: 'QwenService', name: 'chat', uid: 'uid-1', controller: true })] });
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'chat' } });
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      { from: api, ports: [{ protocol: 'TCP', port: 8080 }] },
      { from: metrics, ports: [{ protocol: 'TCP', port: 9090 }] },
    ]);
  });

  it('selects exactly the pods of the Deployment', () => {
    const np = renderNetworkPolicy(qws(), defaultRenderConfig) as NetworkPolicy;
    const labels = (renderDeployment(resolvePlan(qws(), defaultRenderConfig)) as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    expect(labels).toMatchObject(np.spec.podSelector.matchLabels);
    expect((renderNetworkPolicy(qws({}, 'other'), defaultRenderConfig) as NetworkPolicy).spec.podSelector.matchLabels).not.toEqual(np.spec.podSelector.matchLabels);
  });

  it('is rendered with the workload, and not with network.policy: false (the reconciler prunes it)', () => {
    const kinds = (spec: Record<string, unknown>) => renderAll(qws(spec), defaultRenderConfig).map((o) => o.kind);
    expect(kinds({})).toContain('NetworkPolicy');
    expect(kinds({ network: { policy: false, allowFrom: [gateway] } })).not.toContain('NetworkPolicy');
  });

  it('is an owned kind (informer, pruning) the operator may manage, while it may not read Secrets', () => {
    expect(OWNED_KINDS).toContainEqual({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', monitoring: false });
    expect(OPERATOR_RULES).toContainEqual({ apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] });
    expect(OPERATOR_RULES.flatMap((r) => r.resources)).not.toContain('secrets');
    expect(OPERATOR_RULES.flatMap((r) => r.resources)).not.toContain('*');
  });
});

describe('alert links never run as Go templates', () => {
  const injection = 'https://x/{{ with query "count(up)" }}{{ . | first | value }}{{ end }}';
  const linksIn = (rule: KubeObject | undefined) => ((rule as unknown as { spec: { groups: { rules: { annotations?: Record<string, string> }[] }[] } }).spec.groups
    .flatMap((g) => g.rules).flatMap((r) => [r.annotations?.runbook_url, r.annotations?.dashboard]).filter((x): x is string => x !== undefined));
  const sla = { latency: { p95: '3s' } };

  it.each([
    ['a runbook URL that bypassed admission', { runbookURL: injection }],
    ['an operator --runbook-url', { runbookBaseURL: injection }],
    ['a Grafana URL', { grafanaURL: 'https://g/{{ printf "x" }}' }],
  ] as const)('%s: braces and spaces are percent-encoded', (_name, links) => {
    const rule = 'runbookURL' in links
      ? { apiVersion: 'x', kind: 'PrometheusRule', metadata: { name: 'x' }, spec: { groups: compileSla(qws({ sla }), { runbookURL: links.runbookURL }).groups } }
      : renderPrometheusRule(resolvePlan(qws({ sla }), { ...defaultRenderConfig, ...links }));
    const urls = linksIn(rule);
    expect(urls.length).toBeGreaterThan(0);
    for (const u of urls) expect(u).toMatch(/^https:\/\/[^{}\s]+$/);
    expect(urls).toContainEqual(expect.stringContaining('%7B%7B'));
  });

  it('leaves ordinary links as they are', () => {
    const rule = renderPrometheusRule(resolvePlan(qws({ sla, alerting: { runbookURL: 'https://wiki.example.com/rb#burn', dashboardURL: 'https://grafana.example.com/' } }), defaultRenderConfig));
    expect(new Set(linksIn(rule))).toEqual(new Set(['https://wiki.example.com/rb#burn', 'https://grafana.example.com/d/qwen_team-a_chat']));
  });
});
