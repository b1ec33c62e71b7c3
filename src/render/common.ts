// What every renderer shares: names, labels, owner references and the operator-wide settings.
// Renderers are pure: a resolved Plan (or a QwenService and the config) -> plain Kubernetes objects. No I/O here.
import { API_VERSION, KIND, type QwenService } from '../api/qwenservice.ts';
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_QWENSERVICE, OPERATOR_NAME, ROUTER_APP_NAME, ROUTER_COMPONENT, WORKER_APP_NAME } from '../conventions.ts';
import { namespaceOf, type ObjectMeta, type OwnerReference } from '../kube/object.ts';
import type { RenderConfig } from '../plan/config.ts';

// The object shape is the client layer's; re-exported so every renderer imports from one place.
export type { KubeObject, ObjectMeta, OwnerReference } from '../kube/object.ts';
export { namespaceOf } from '../kube/object.ts';

// Operator-wide settings: the plan's (src/plan/config.ts), re-exported for the renderers.
export { defaultRenderConfig, type RenderConfig } from '../plan/config.ts';

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

/** Labels that select one QwenService's router pods (spec.router): apart from the workers', so neither Deployment selects the other's pods. */
export function routerSelectorLabels(qs: { metadata: { name: string } }): Record<string, string> {
  return { [LABEL_NAME]: ROUTER_APP_NAME, [LABEL_INSTANCE]: qs.metadata.name };
}

/** Labels on the router's pods and on every object serving them. */
export function routerLabels(qs: QwenService): Record<string, string> {
  return { ...routerSelectorLabels(qs), [LABEL_MANAGED_BY]: OPERATOR_NAME, [LABEL_QWENSERVICE]: qs.metadata.name, [LABEL_COMPONENT]: ROUTER_COMPONENT };
}

/** The controller owner reference that ties a child to its QwenService (GC + event mapping). */
export function ownerReference(qs: QwenService): OwnerReference {
  const uid = (qs.metadata as { uid?: unknown }).uid;
  return { apiVersion: API_VERSION, kind: KIND, name: qs.metadata.name, uid: typeof uid === 'string' ? uid : '', controller: true, blockOwnerDeletion: true };
}

/** Metadata for a child object of the router (its labels, not the workers'). */
export function routerMeta(qs: QwenService, name: string): ObjectMeta {
  return { ...childMeta(qs, name), labels: routerLabels(qs) };
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
  const named = qs.spec.auth?.apiKeys?.secretRef;
  if (named) return { endpoint: endpointOf(qs, config), endpointAuth: `API key required: Authorization: Bearer <the key of your tenant in Secret ${named.name}>` };
  const ref = qs.spec.auth?.apiKey?.secretKeyRef;
  if (!ref) return { endpoint: endpointOf(qs, config) };
  return { endpoint: endpointOf(qs, config), endpointAuth: `API key required: Authorization: Bearer <a key from Secret ${ref.name}, key ${ref.key}>` };
}
