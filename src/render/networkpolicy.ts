// The NetworkPolicy (networking.k8s.io/v1) around one QwenService's worker pods: the API port
// only from pods of the QwenService's namespace plus spec.network.allowFrom, the metrics port only
// from the namespaces where Prometheus runs (operator-wide; any namespace when unset). Everything
// else is refused once a policy selects the pods. It only matters where the CNI enforces policies.
// Pure; absent with spec.network.policy: false (the reconciler then prunes it).
//
// With spec.router the clients' peers move to the router (a second policy, `<name>-router`): its
// API port from what the workers accepted before, its /metrics from Prometheus and from its peers
// (which read each other's load there), its external-scaler port from the KEDA namespaces
// (operator-wide; any namespace when unset). The workers' API port is then open to the router pods
// only.
import type { NetworkPeer, QwenService } from '../api/qwenservice.ts';
import { LABEL_COMPONENT, WORKER_COMPONENT } from '../conventions.ts';
import type { RouterPlan } from '../plan/index.ts';
import { ROUTER_DEFAULT } from '../../router/src/contract.ts';
import { childMeta, routerMeta, routerSelectorLabels, selectorLabels, type KubeObject, type RenderConfig } from './common.ts';

/** The label every namespace carries (since Kubernetes 1.21) with its own name. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Pods of these namespaces, or of every namespace when none is named. */
function namespacesPeers(names: string[]): Record<string, unknown>[] {
  const namespaces = [...new Set(names)].sort();
  if (!namespaces.length) return [{ namespaceSelector: {} }];
  return [{ namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: namespaces }] } }];
}

/** Peers that may scrape /metrics: the Prometheus namespaces, or every namespace. */
export function metricsPeers(config: RenderConfig): Record<string, unknown>[] {
  return namespacesPeers(config.prometheusNamespaces);
}

/** Peers that may call the router's external scaler: the KEDA namespaces, or every namespace. */
export function kedaPeers(config: RenderConfig): Record<string, unknown>[] {
  return namespacesPeers(config.kedaNamespaces);
}

/** Peers that may call the API: every pod of the QwenService's namespace, then the user's. */
export function apiPeers(qs: QwenService): (NetworkPeer | Record<string, unknown>)[] {
  return [{ podSelector: {} }, ...(qs.spec.network?.allowFrom ?? [])];
}

/** The workers' policy; with a router their API port takes the router pods only. */
export function renderNetworkPolicy(qs: QwenService, config: RenderConfig, router?: RouterPlan): KubeObject | undefined {
  if (qs.spec.network?.policy === false) return undefined;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: WORKER_COMPONENT } }),
    spec: {
      podSelector: { matchLabels: selectorLabels(qs) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: router ? [{ podSelector: { matchLabels: routerSelectorLabels(qs) } }] : apiPeers(qs), ports: [{ protocol: 'TCP', port: config.workerPort }] },
        { from: metricsPeers(config), ports: [{ protocol: 'TCP', port: config.metricsPort }] },
      ],
    },
  };
}

/** The router's policy (spec.router): the clients' API port, /metrics for Prometheus and the peers, the scaler port for KEDA. */
export function renderRouterNetworkPolicy(qs: QwenService, config: RenderConfig, router: RouterPlan | undefined): KubeObject | undefined {
  if (!router || qs.spec.network?.policy === false) return undefined;
  const peers = { podSelector: { matchLabels: routerSelectorLabels(qs) } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: routerMeta(qs, router.name),
    spec: {
      podSelector: { matchLabels: routerSelectorLabels(qs) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: apiPeers(qs), ports: [{ protocol: 'TCP', port: ROUTER_DEFAULT.port }] },
        { from: [...metricsPeers(config), peers], ports: [{ protocol: 'TCP', port: ROUTER_DEFAULT.adminPort }] },
        { from: kedaPeers(config), ports: [{ protocol: 'TCP', port: ROUTER_DEFAULT.scalerPort }] },
      ],
    },
  };
}
