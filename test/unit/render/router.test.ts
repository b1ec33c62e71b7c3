// spec.router as the operator renders it (src/render/router.ts and what a router changes in the
// workers' Service, the NetworkPolicies, the ScaledObject, the ServiceMonitor and status): the
// router's objects and names, its arguments (the contract's flags), the same API key Secret as the
// workers, the Service switch (the client's Service selects the router pods, the workers get
// `<name>-workers`), who may reach what, KEDA's external-push trigger and scaling to zero, and the
// RBAC the operator needs to grant the router its Role.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { computeStatus } from '../../../src/controller/status.ts';
import { OPERATOR_RULES } from '../../../src/rbac.ts';
import { defaultRenderConfig, type KubeObject, type RenderConfig } from '../../../src/render/common.ts';
import { renderAll } from '../../../src/render/index.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { SCALED_OBJECT_KEY } from '../../../src/plan/kinds.ts';
import { ROUTER_API_KEY_FILE, ROUTER_ROLE_RULES } from '../../../src/render/router.ts';
import { explainScaling, renderScaledObject } from '../../../src/render/scaledobject.ts';
import { ROUTER_DEFAULT, ROUTER_FLAG } from '../../../router/src/contract.ts';
import { MONITORING_KINDS } from '../../../src/plan/kinds.ts';
import { kindKey } from '../../../src/kube/object.ts';

const PROM: RenderConfig = { ...defaultRenderConfig, prometheusURL: 'http://prometheus.monitoring.svc:9090', routerImage: 'qwen-router:test' };
const SERVED = new Set([...MONITORING_KINDS.map(kindKey), SCALED_OBJECT_KEY]);
const auth = { apiKey: { secretKeyRef: { name: 'chat-keys', key: 'keys' } } };
const qws = (spec: Record<string, unknown> = {}, name = 'chat') =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name, namespace: 'team-a', uid: 'uid-1' }, spec });
const render = (spec: Record<string, unknown>, config: RenderConfig = PROM) => renderAll(qws(spec), config, { servedMonitoringKinds: SERVED });
const find = (objs: KubeObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
type Pod = { serviceAccountName?: string; automountServiceAccountToken?: boolean; containers: { image: string; args: string[]; env?: unknown[]; ports: { name: string; containerPort: number }[]; resources: unknown; readinessProbe: { httpGet: { port: string; path: string } }; volumeMounts: { name: string; mountPath: string }[] }[]; volumes: Record<string, unknown>[] };
const podOf = (d: KubeObject | undefined) => (d!.spec as { template: { spec: Pod } }).template.spec;
const flagOf = (args: string[], flag: string) => args.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);
const ROUTER_PODS = { 'app.kubernetes.io/name': 'qwen-router', 'app.kubernetes.io/instance': 'chat' };
const WORKER_PODS = { 'app.kubernetes.io/name': 'qwen-worker', 'app.kubernetes.io/instance': 'chat' };

describe('spec.router', () => {
  it('adds the router objects, each owned by the QwenService, and nothing without it', () => {
    const names = (objs: KubeObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    const without = render({});
    const withRouter = render({ router: {} });
    expect(names(withRouter).filter((n) => !names(without).includes(n))).toEqual([
      'Deployment/chat-router', 'NetworkPolicy/chat-router', 'PodDisruptionBudget/chat-router', 'Role/chat-router', 'RoleBinding/chat-router',
      'Service/chat-router', 'Service/chat-workers', 'ServiceAccount/chat-router',
    ]);
    for (const o of withRouter) expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'QwenService', name: 'chat', uid: 'uid-1', controller: true })]);
    expect(names(without).filter((n) => n.includes('router') || n.includes('workers'))).toEqual([]);
  });

  it('the client\'s Service keeps its name and port and selects the router pods; the workers get <name>-workers', () => {
    const svc = (objs: KubeObject[], name: string) => find(objs, 'Service', name)?.spec as { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[]; clusterIP?: string } | undefined;
    const without = render({});
    expect(svc(without, 'chat')!.selector).toEqual(WORKER_PODS);
    const objs = render({ router: {} });
    expect(svc(objs, 'chat')).toEqual({ type: 'ClusterIP', selector: ROUTER_PODS, ports: [{ name: 'http', port: defaultRenderConfig.workerPort, targetPort: 'http', protocol: 'TCP' }] });
    expect(svc(objs, 'chat-workers')!.selector).toEqual(WORKER_PODS);
    expect(svc(objs, 'chat-workers')!.ports.map((p) => p.name)).toEqual(['http', 'metrics']);
    expect(svc(objs, 'chat-router')).toMatchObject({ clusterIP: 'None', selector: ROUTER_PODS });
    expect(svc(objs, 'chat-router')!.ports.map((p) => [p.name, p.port])).toEqual([['metrics', ROUTER_DEFAULT.adminPort], ['scaler', ROUTER_DEFAULT.scalerPort]]);
    // Neither Deployment selects the other's pods.
    const selector = (name: string) => (find(objs, 'Deployment', name)!.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
    expect([selector('chat'), selector('chat-router')]).toEqual([WORKER_PODS, ROUTER_PODS]);
  });

  it('starts the router with the contract\'s flags: the workers\' Service and port name, its peers, the spec\'s settings, the workers\' SLO buckets', () => {
    const objs = render({ router: { affinity: 'None', holdTimeout: '90s', maxHeld: 32 }, sla: { latency: { p95: '3s' }, timeToFirstToken: { p95: '700ms' } } });
    const args = podOf(find(objs, 'Deployment', 'chat-router')).containers[0]!.args;
    for (const a of args) expect(Object.values(ROUTER_FLAG)).toContain(/^--([a-z-]+)=/.exec(a)![1]);
    expect(Object.fromEntries(args.map((a) => /^--([a-z-]+)=(.*)$/.exec(a)!.slice(1)))).toEqual({
      host: '0.0.0.0', port: '8080', 'admin-port': '9090', 'scaler-port': '9100', namespace: 'team-a',
      'workers-service': 'chat-workers', 'workers-port': 'http', 'peers-service': 'chat-router',
      affinity: 'None', 'hold-timeout': '90', 'max-held': '32', 'model-name': 'Qwen3-4B-Instruct-2507-Q4_K_M', 'drain-timeout': '80', 'slo-buckets': '0.7,3',
    });
    const workerArgs = podOf(find(objs, 'Deployment', 'chat')).containers[0]!.args;
    expect(flagOf(args, ROUTER_FLAG.sloBuckets)).toBe(flagOf(workerArgs, 'slo-buckets'));
    expect(flagOf(args, ROUTER_FLAG.modelName)).toBe(flagOf(workerArgs, 'model-name'));
  });

  it('runs the configured image (or spec.router.image), 2 replicas, small requests, probes on the admin port, its own ServiceAccount', () => {
    const objs = render({ router: {} });
    const dep = find(objs, 'Deployment', 'chat-router')!;
    expect((dep.spec as { replicas: number }).replicas).toBe(2);
    const pod = podOf(dep);
    const c = pod.containers[0]!;
    expect(c.image).toBe('qwen-router:test');
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' } });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.ports.map((p) => [p.name, p.containerPort])).toEqual([['http', 8080], ['metrics', 9090], ['scaler', 9100]]);
    expect(c.env).toEqual([{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
    expect([pod.serviceAccountName, pod.automountServiceAccountToken]).toEqual(['chat-router', true]);
    const custom = podOf(find(render({ router: { image: 'r:2', replicas: 1, resources: { requests: { cpu: '1' }, limits: { memory: '1Gi' } } } }), 'Deployment', 'chat-router')).containers[0]!;
    expect([custom.image, custom.resources]).toEqual(['r:2', { requests: { cpu: '1', memory: '128Mi' }, limits: { memory: '1Gi' } }]);
  });

  it('checks the API keys from the workers\' Secret when spec.auth has one', () => {
    expect(flagOf(podOf(find(render({ router: {} }), 'Deployment', 'chat-router')).containers[0]!.args, ROUTER_FLAG.apiKeyFile)).toBeUndefined();
    const objs = render({ router: {}, auth });
    const router = podOf(find(objs, 'Deployment', 'chat-router'));
    const worker = podOf(find(objs, 'Deployment', 'chat'));
    const secretOf = (p: Pod) => p.volumes.find((v) => v.secret)!.secret;
    expect(secretOf(router)).toEqual(secretOf(worker));
    expect(flagOf(router.containers[0]!.args, ROUTER_FLAG.apiKeyFile)).toBe(ROUTER_API_KEY_FILE);
    expect(ROUTER_API_KEY_FILE).toBe(`${router.containers[0]!.volumeMounts.find((m) => m.name === 'api-key')!.mountPath}/keys`);
  });

  it('gives the router a Role to read EndpointSlices in its namespace only, bound to its ServiceAccount; a PDB from 2 replicas', () => {
    const objs = render({ router: {} });
    expect(find(objs, 'Role', 'chat-router')!.rules).toEqual([{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] }]);
    expect(find(objs, 'RoleBinding', 'chat-router')).toMatchObject({ roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'chat-router' }, subjects: [{ kind: 'ServiceAccount', name: 'chat-router', namespace: 'team-a' }] });
    expect(find(objs, 'PodDisruptionBudget', 'chat-router')!.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: ROUTER_PODS } });
    expect(find(render({ router: { replicas: 1 } }), 'PodDisruptionBudget', 'chat-router')).toBeUndefined();
  });

  it('the operator holds what the router\'s Role grants (RBAC escalation prevention), and no more than it needs', () => {
    for (const rule of ROUTER_ROLE_RULES) expect(OPERATOR_RULES).toContainEqual(rule);
    expect(OPERATOR_RULES).toContainEqual({ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] });
    expect(OPERATOR_RULES.flatMap((r) => r.verbs)).not.toContain('bind');
    expect(OPERATOR_RULES.flatMap((r) => r.verbs)).not.toContain('escalate');
  });
});

describe('who may reach the router and the workers', () => {
  type Ingress = { from: Record<string, unknown>[]; ports: { port: number }[] }[];
  const ingress = (objs: KubeObject[], name: string) => (find(objs, 'NetworkPolicy', name)!.spec as { ingress: Ingress }).ingress;
  const gateway = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateway' } } };
  const inNamespaces = (...ns: string[]) => ({ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ns }] } });

  it('the workers\' API port from the router pods only; the router\'s API port from what the workers took before', () => {
    const config = { ...PROM, prometheusNamespaces: ['monitoring'], kedaNamespaces: ['keda'] };
    const objs = render({ router: {}, network: { allowFrom: [gateway] } }, config);
    expect(ingress(objs, 'chat')).toEqual([
      { from: [{ podSelector: { matchLabels: ROUTER_PODS } }], ports: [{ protocol: 'TCP', port: 8080 }] },
      { from: [inNamespaces('monitoring')], ports: [{ protocol: 'TCP', port: 9090 }] },
    ]);
    expect(ingress(objs, 'chat-router')).toEqual([
      { from: [{ podSelector: {} }, gateway], ports: [{ protocol: 'TCP', port: ROUTER_DEFAULT.port }] },
      { from: [inNamespaces('monitoring'), { podSelector: { matchLabels: ROUTER_PODS } }], ports: [{ protocol: 'TCP', port: ROUTER_DEFAULT.adminPort }] },
      { from: [inNamespaces('keda')], ports: [{ protocol: 'TCP', port: ROUTER_DEFAULT.scalerPort }] },
    ]);
    expect((find(objs, 'NetworkPolicy', 'chat-router')!.spec as { podSelector: unknown }).podSelector).toEqual({ matchLabels: ROUTER_PODS });
  });

  it('any namespace may reach the scaler port without --keda-namespaces; no policy at all with network.policy false', () => {
    expect(ingress(render({ router: {} }), 'chat-router')[2]!.from).toEqual([{ namespaceSelector: {} }]);
    expect(render({ router: {}, network: { policy: false } }).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });
});

describe('KEDA and Prometheus with a router', () => {
  type ScaledObjectSpec = { minReplicaCount: number; cooldownPeriod?: number; triggers: { type: string; name: string; metadata: Record<string, string> }[] };
  const so = (spec: Record<string, unknown>) => find(render(spec), 'ScaledObject', 'chat')?.spec as ScaledObjectSpec;

  it('adds an external-push trigger on the router beside the Prometheus triggers', () => {
    const s = so({ router: {}, autoscaling: { minReplicas: 1, maxReplicas: 4, targetInFlightPerReplica: 6 }, sla: { latency: { p95: '3s' } } });
    expect(s.triggers.map((t) => [t.type, t.name])).toEqual([['prometheus', 'queue'], ['prometheus', 'slo-burn'], ['external-push', 'router']]);
    expect(s.triggers[2]).toEqual({ type: 'external-push', name: 'router', metricType: 'AverageValue', metadata: { scalerAddress: 'chat-router.team-a.svc.cluster.local:9100', targetInFlight: '6' } });
    expect([s.minReplicaCount, s.cooldownPeriod]).toEqual([1, undefined]);
    expect(so({ autoscaling: { maxReplicas: 4 } }).triggers.map((t) => t.type)).toEqual(['prometheus']);
  });

  it('until a router pod is ready: no external-push trigger (KEDA would drop its pushes for good) and no scale to zero', () => {
    const spec = { router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2, targetInFlightPerReplica: 3 } };
    const waiting = renderScaledObject(resolvePlan(qws(spec), PROM, SERVED, undefined, false))!.spec as ScaledObjectSpec;
    expect(waiting.triggers.map((t) => t.type)).toEqual(['prometheus']);
    expect([waiting.minReplicaCount, waiting.cooldownPeriod]).toEqual([1, undefined]);
    const ready = renderScaledObject(resolvePlan(qws(spec), PROM, SERVED, undefined, true))!.spec as ScaledObjectSpec;
    expect(ready.triggers.map((t) => t.type)).toEqual(['prometheus', 'external-push']);
    expect(ready.minReplicaCount).toBe(0);
  });

  it('from minReplicas 0: minReplicaCount 0 and cooldownPeriod = scaleToZeroAfter in seconds', () => {
    expect(so({ router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2 } })).toMatchObject({ minReplicaCount: 0, cooldownPeriod: 900 });
    expect(so({ router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2, scaleToZeroAfter: '90s' } })).toMatchObject({ minReplicaCount: 0, cooldownPeriod: 90 });
    const plan = resolvePlan(qws({ router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2, scaleToZeroAfter: '90s' } }), PROM, SERVED);
    expect(explainScaling(plan)).toMatch(/zero: {5}after 1m30s without a request \(scaleToZeroAfter\) KEDA removes the last worker; the next request is held by the router \(up to 2m\)/);
  });

  it('scrapes the workers (labelled service=<name>, as without a router) and the router\'s admin port (service=<name>-router, the SLIs\' router selector)', () => {
    const sm = find(render({ router: {} }), 'ServiceMonitor', 'chat')!.spec as { selector: unknown; endpoints: { port: string; relabelings?: unknown[] }[] };
    expect(sm.selector).toEqual({
      matchLabels: { 'app.kubernetes.io/instance': 'chat' },
      matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['qwen-router', 'qwen-worker'] }, { key: 'app.kubernetes.io/component', operator: 'In', values: ['router', 'worker'] }],
    });
    expect(sm.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s', relabelings: [{ action: 'replace', sourceLabels: ['service'], regex: 'chat-workers', targetLabel: 'service', replacement: 'chat' }] }]);
    // Which Services carry a `metrics` port among those it selects: the workers' and the router's headless one, not the client's.
    const objs = render({ router: {} });
    const scraped = objs.filter((o) => o.kind === 'Service' && (o.spec as { ports: { name: string }[] }).ports.some((p) => p.name === 'metrics')).map((o) => o.metadata.name);
    expect(scraped).toEqual(['chat-workers', 'chat-router']);
    expect((find(render({}), 'ServiceMonitor', 'chat')!.spec as { endpoints: unknown[] }).endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
  });
});

describe('status with a router', () => {
  const observed = { pods: [], missingMonitoringKinds: [], monitoringRequested: false };
  it('reports the router\'s ready/asked-for pods from its Deployment; nothing without spec.router', () => {
    const plan = resolvePlan(qws({ router: { replicas: 3 } }), PROM, SERVED);
    const routerDeployment: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'chat-router', namespace: 'team-a' }, status: { readyReplicas: 2 } };
    expect(computeStatus(plan, { ...observed, routerDeployment }, 'now').router).toEqual({ replicas: 3, readyReplicas: 2, ready: '2/3' });
    expect(computeStatus(plan, observed, 'now').router).toEqual({ replicas: 3, readyReplicas: 0, ready: '0/3' });
    expect(computeStatus(resolvePlan(qws({}), PROM, SERVED), observed, 'now').router).toBeUndefined();
  });

  it('at zero, Ready says KEDA scaled the workers away and the router holds the next request', () => {
    const plan = resolvePlan(qws({ router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2 } }), PROM, SERVED);
    const deployment: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'chat', namespace: 'team-a', generation: 1 }, spec: { replicas: 0 }, status: { observedGeneration: 1 } };
    const ready = computeStatus(plan, { ...observed, deployment }, 'now').conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'True', reason: 'ScaledToZero' });
    expect(ready.message).toMatch(/no request for 15m: KEDA scaled the workers to zero; the router holds the next request/);
  });
});
