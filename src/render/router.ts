// spec.router -> the router in front of the workers (its own package and image, router/): its
// Deployment, the ServiceAccount, Role and RoleBinding it reads the workers' EndpointSlices with,
// a PodDisruptionBudget, its headless Service (peers, Prometheus, KEDA's external scaler) and the
// Service named after the QwenService, which then selects the router pods instead of the workers
// (the client's endpoint does not change; the workers' own Service is renderService's). Pure;
// nothing without spec.router (the reconciler then prunes all of it).
//
// The pods pass Pod Security "restricted" exactly like the workers'.
import { DEFAULT_ROUTER_REQUESTS, type QwenService } from '../api/qwenservice.ts';
import type { Plan, RouterPlan } from '../plan/index.ts';
import { ROUTER_DEFAULT, ROUTER_FLAG } from '../../router/src/contract.ts';
import { sloBucketBoundaries } from '../sla/index.ts';
import { METRICS_PORT_NAME, WORKER_PORT_NAME, namespaceOf, routerMeta, routerLabels, routerSelectorLabels, type KubeObject } from './common.ts';
import { API_KEY_FILE_NAME, apiKeyVolume } from './api-keys.ts';
import { tenantsArg } from './tenants.ts';
import { RESTRICTED_CONTAINER_SECURITY, RESTRICTED_POD_SECURITY, servedModelName } from './workload.ts';

/** Port names on the router pods and its Services: the API as the workers name theirs, /metrics (admin) as the workers' metrics port, KEDA's gRPC. */
export const ROUTER_HTTP_PORT_NAME = WORKER_PORT_NAME;
export const ROUTER_ADMIN_PORT_NAME = METRICS_PORT_NAME;
export const ROUTER_SCALER_PORT_NAME = 'scaler';
/** In-flight streams finish after SIGTERM (the router drains, then exits), less a margin for the exit itself. */
const GRACE_PERIOD_S = 90;
const DRAIN_MARGIN_S = 10;
const API_KEY_DIR = '/etc/qwen-router/api-key';
/** The single-key form's file (the named form mounts the Secret's directory: render/api-keys.ts). */
export const ROUTER_API_KEY_FILE = `${API_KEY_DIR}/${API_KEY_FILE_NAME}`;

/** What the router's Role grants: its ServiceAccount follows the workers' (and its peers') EndpointSlices, in its namespace only. */
export const ROUTER_ROLE_RULES: { apiGroups: string[]; resources: string[]; verbs: string[] }[] = [{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] }];

/** The router's command line, each flag as one `--flag=value` word (like the worker's). */
export function routerArgs(plan: Plan, r: RouterPlan): string[] {
  const { qs } = plan;
  const flags: [string, string][] = [
    [ROUTER_FLAG.host, ROUTER_DEFAULT.host],
    [ROUTER_FLAG.port, String(ROUTER_DEFAULT.port)],
    [ROUTER_FLAG.adminPort, String(ROUTER_DEFAULT.adminPort)],
    [ROUTER_FLAG.scalerPort, String(ROUTER_DEFAULT.scalerPort)],
    [ROUTER_FLAG.namespace, namespaceOf(qs)],
    [ROUTER_FLAG.workersService, r.workersService],
    [ROUTER_FLAG.workersPort, WORKER_PORT_NAME],
    [ROUTER_FLAG.peersService, r.name],
    [ROUTER_FLAG.affinity, r.affinity],
    [ROUTER_FLAG.holdTimeout, String(r.holdTimeoutSeconds)],
    [ROUTER_FLAG.maxHeld, String(r.maxHeld)],
    [ROUTER_FLAG.modelName, servedModelName(qs)],
    [ROUTER_FLAG.drainTimeout, String(GRACE_PERIOD_S - DRAIN_MARGIN_S)],
  ];
  const keys = apiKeyVolume(qs, API_KEY_DIR);
  if (keys) flags.push([ROUTER_FLAG.apiKeyFile, keys.path]);
  // The same boundaries the workers get: the SLIs read the router's histograms at the same `le`.
  const buckets = sloBucketBoundaries(plan.sla.slos);
  if (buckets.length) flags.push([ROUTER_FLAG.sloBuckets, buckets.join(',')]);
  return [...flags.map(([flag, value]) => `--${flag}=${value}`), ...tenantsArg(plan)];
}

function routerResources(qs: QwenService): Record<string, Record<string, string>> {
  const str = (r: Record<string, string | number> | undefined) => Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, String(v)]));
  const spec = qs.spec.router?.resources;
  const requests = { ...DEFAULT_ROUTER_REQUESTS, ...str(spec?.requests) };
  const limits = str(spec?.limits);
  return { requests, ...(Object.keys(limits).length ? { limits } : {}) };
}

export function renderRouterDeployment(plan: Plan, r: RouterPlan): KubeObject {
  const { qs } = plan;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: ROUTER_ADMIN_PORT_NAME }, periodSeconds, failureThreshold, timeoutSeconds: 2,
  });
  const key = apiKeyVolume(qs, API_KEY_DIR);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: routerMeta(qs, r.name),
    spec: {
      replicas: r.replicas,
      selector: { matchLabels: routerSelectorLabels(qs) },
      // Stateless and small: a new pod first, so a rolling update never lowers the routers' capacity.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: routerLabels(qs) },
        spec: {
          serviceAccountName: r.name,
          // It reads EndpointSlices, so it needs its token (the workers' pods do without).
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: GRACE_PERIOD_S,
          securityContext: RESTRICTED_POD_SECURITY,
          // Spread over nodes, so one node's drain leaves a router up (the PodDisruptionBudget keeps it so).
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: routerSelectorLabels(qs) } } }],
            },
          },
          containers: [
            {
              name: 'router',
              image: r.image,
              imagePullPolicy: 'IfNotPresent',
              args: routerArgs(plan, r),
              ports: [
                { name: ROUTER_HTTP_PORT_NAME, containerPort: ROUTER_DEFAULT.port, protocol: 'TCP' },
                { name: ROUTER_ADMIN_PORT_NAME, containerPort: ROUTER_DEFAULT.adminPort, protocol: 'TCP' },
                { name: ROUTER_SCALER_PORT_NAME, containerPort: ROUTER_DEFAULT.scalerPort, protocol: 'TCP' },
              ],
              // Its own address, to tell itself apart from its peers in the headless Service's EndpointSlices.
              env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
              resources: routerResources(qs),
              // Ready means the router itself serves (it holds requests while no worker is ready), not that a worker is.
              readinessProbe: probe('/readyz', 5, 2),
              livenessProbe: probe('/healthz', 10, 3),
              securityContext: RESTRICTED_CONTAINER_SECURITY,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...(key ? [key.mount] : [])],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...(key ? [key.volume] : [])],
        },
      },
    },
  };
}

/** The client's Service (named after the QwenService, its port the workers' API port as before) on the router pods. */
export function renderRouterService(plan: Plan): KubeObject {
  const { qs, config } = plan;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: routerMeta(qs, qs.metadata.name),
    spec: {
      type: 'ClusterIP',
      selector: routerSelectorLabels(qs),
      ports: [{ name: ROUTER_HTTP_PORT_NAME, port: config.workerPort, targetPort: ROUTER_HTTP_PORT_NAME, protocol: 'TCP' }],
    },
  };
}

/** Headless: its EndpointSlices list the peers (whose load the scaler adds up), Prometheus scrapes /metrics through it, KEDA resolves the scaler address to a router pod. */
export function renderRouterPeersService(plan: Plan, r: RouterPlan): KubeObject {
  const { qs } = plan;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: routerMeta(qs, r.name),
    spec: {
      clusterIP: 'None',
      selector: routerSelectorLabels(qs),
      ports: [
        { name: ROUTER_ADMIN_PORT_NAME, port: ROUTER_DEFAULT.adminPort, targetPort: ROUTER_ADMIN_PORT_NAME, protocol: 'TCP' },
        { name: ROUTER_SCALER_PORT_NAME, port: ROUTER_DEFAULT.scalerPort, targetPort: ROUTER_SCALER_PORT_NAME, protocol: 'TCP' },
      ],
    },
  };
}

function renderRouterAccess(plan: Plan, r: RouterPlan): KubeObject[] {
  const { qs } = plan;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: routerMeta(qs, r.name) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: routerMeta(qs, r.name), rules: ROUTER_ROLE_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: routerMeta(qs, r.name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: r.name },
      subjects: [{ kind: 'ServiceAccount', name: r.name, namespace: namespaceOf(qs) }],
    },
  ];
}

/** One router may be evicted at a time (a node drain), the other keeps serving; none with a single router. */
function renderRouterDisruptionBudget(plan: Plan, r: RouterPlan): KubeObject | undefined {
  if (r.replicas < 2) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: routerMeta(plan.qs, r.name),
    spec: { maxUnavailable: 1, selector: { matchLabels: routerSelectorLabels(plan.qs) } },
  };
}

export function renderRouter(plan: Plan): KubeObject[] {
  const r = plan.router;
  if (!r) return [];
  return [
    renderRouterDeployment(plan, r),
    renderRouterService(plan),
    renderRouterPeersService(plan, r),
    ...renderRouterAccess(plan, r),
    renderRouterDisruptionBudget(plan, r),
  ].filter((o): o is KubeObject => o !== undefined);
}
