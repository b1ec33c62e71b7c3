// What every renderer shares: names, labels, owner references and the operator-wide settings.
// Renderers are pure: (QwenService, RenderConfig) -> plain Kubernetes objects. No I/O here.
import { API_VERSION, KIND, type QwenService } from '../api/qwenservice.ts';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_QWENSERVICE, OPERATOR_NAME, WORKER_APP_NAME } from '../conventions.ts';
import { namespaceOf, type ObjectMeta, type OwnerReference } from '../kube/object.ts';

// The object shape is the client layer's; re-exported so every renderer imports from one place.
export type { KubeObject, ObjectMeta, OwnerReference } from '../kube/object.ts';
export { namespaceOf } from '../kube/object.ts';

/** Operator-wide settings the renderers need (from flags / Helm values). */
export type RenderConfig = {
  /** Worker image used when the QwenService does not override it. */
  workerImage: string;
  /** Port the worker serves the API (and health) on. */
  workerPort: number;
  /** Port the worker serves /metrics (and health) on, apart from the API so policies can tell them apart. */
  metricsPort: number;
  /** Namespaces where Prometheus runs: the only sources the NetworkPolicy lets reach the metrics port (empty = any namespace). */
  prometheusNamespaces: string[];
  /** Base of the runbook linked from alerts when the QwenService names none. */
  runbookBaseURL: string;
  /** Grafana base URL for dashboard links in alerts (optional). */
  grafanaURL?: string;
  /** Prometheus the autoscaler's triggers query (the operator's --prometheus-url); no ScaledObject without it. */
  prometheusURL?: string;
};

export const defaultRenderConfig: RenderConfig = {
  workerImage: 'ghcr.io/qwenops/qwen-worker:0.1.0-cuda',
  workerPort: 8080,
  metricsPort: 9090,
  prometheusNamespaces: [],
  runbookBaseURL: 'https://github.com/qwenops/qwen-operator/blob/main/docs/runbook.md',
};

export const WORKER_PORT_NAME = 'http';
export const METRICS_PORT_NAME = 'metrics';

/** Labels that select one QwenService's worker pods (stable: they are in a Deployment selector). */
export function selectorLabels(qs: { metadata: { name: string } }): Record<string, string> {
  return { [LABEL_NAME]: WORKER_APP_NAME, [LABEL_INSTANCE]: qs.metadata.name };
}

/** Labels on every object the operator owns for a QwenService. */
export function commonLabels(qs: QwenService): Record<string, string> {
  return { ...selectorLabels(qs), [LABEL_MANAGED_BY]: OPERATOR_NAME, [LABEL_QWENSERVICE]: qs.metadata.name };
}

/** The controller owner reference that ties a child to its QwenService (GC + event mapping). */
export function ownerReference(qs: QwenService): OwnerReference {
  const uid = (qs.metadata as { uid?: unknown }).uid;
  return { apiVersion: API_VERSION, kind: KIND, name: qs.metadata.name, uid: typeof uid === 'string' ? uid : '', controller: true, blockOwnerDeletion: true };
}

/** Metadata for a child object named `name` in the QwenService's namespace. */
export function childMeta(qs: QwenService, name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): ObjectMeta {
  const meta: ObjectMeta = {
    name,
    namespace: namespaceOf(qs),
    labels: { ...(extra.labels ?? {}), ...commonLabels(qs) },
    ownerReferences: [ownerReference(qs)],
  };
  if (extra.annotations && Object.keys(extra.annotations).length) meta.annotations = extra.annotations;
  return meta;
}

/** The OpenAI-compatible base URL of a QwenService inside the cluster. */
export function endpointOf(qs: { metadata: { name: string; namespace?: string } }, config: RenderConfig): string {
  return `http://${qs.metadata.name}.${namespaceOf(qs)}.svc:${config.workerPort}/v1`;
}

/** The status fields that tell a client where to call and whether it needs a key (never the key itself). */
export function endpointStatus(qs: QwenService, config: RenderConfig): { endpoint: string; endpointAuth?: string } {
  const ref = qs.spec.auth?.apiKey.secretKeyRef;
  if (!ref) return { endpoint: endpointOf(qs, config) };
  return { endpoint: endpointOf(qs, config), endpointAuth: `API key required: Authorization: Bearer <a key from Secret ${ref.name}, key ${ref.key}>` };
}
