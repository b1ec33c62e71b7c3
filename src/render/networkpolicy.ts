// The NetworkPolicy (networking.k8s.io/v1) around one QwenService's worker pods: the API port
// only from pods of the QwenService's namespace plus spec.network.allowFrom, the metrics port only
// from the namespaces where Prometheus runs (operator-wide; any namespace when unset). Everything
// else is refused once a policy selects the pods. It only matters where the CNI enforces policies.
// Pure; absent with spec.network.policy: false (the reconciler then prunes it).
import type { NetworkPeer, QwenService } from '../api/qwenservice.ts';
import { LABEL_COMPONENT, WORKER_COMPONENT } from '../conventions.ts';
import { childMeta, selectorLabels, type KubeObject, type RenderConfig } from './common.ts';

/** The label every namespace carries (since Kubernetes 1.21) with its own name. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Peers that may scrape /metrics: the Prometheus namespaces, or every namespace. */
export function metricsPeers(config: RenderConfig): Record<string, unknown>[] {
  const namespaces = [...new Set(config.prometheusNamespaces)].sort();
  if (!namespaces.length) return [{ namespaceSelector: {} }];
  return [{ namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: namespaces }] } }];
}

/** Peers that may call the API: every pod of the QwenService's namespace, then the user's. */
export function apiPeers(qs: QwenService): (NetworkPeer | Record<string, unknown>)[] {
  return [{ podSelector: {} }, ...(qs.spec.network?.allowFrom ?? [])];
}

export function renderNetworkPolicy(qs: QwenService, config: RenderConfig): KubeObject | undefined {
  if (qs.spec.network?.policy === false) return undefined;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: WORKER_COMPONENT } }),
    spec: {
      podSelector: { matchLabels: selectorLabels(qs) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: apiPeers(qs), ports: [{ protocol: 'TCP', port: config.workerPort }] },
        { from: metricsPeers(config), ports: [{ protocol: 'TCP', port: config.metricsPort }] },
      ],
    },
  };
}
