// The shape of a Kubernetes object as the operator handles it: plain JSON, exactly what is sent
// and what the watch cache holds (no generated classes), plus the few facts every layer needs
// about any object (its kind's key, its namespace).
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
};

export type ObjectMeta = {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  /** Set by the apiserver; never rendered. */
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  [field: string]: unknown;
};

export type OwnerReference = { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean };

/** One key per kind and version (`Deployment.apps/v1`): caches, served kinds and pruning are keyed by it. */
export const kindKey = (o: { apiVersion: string; kind: string }): string => `${o.kind}.${o.apiVersion}`;

/** The cache and work-queue key of an object: `namespace/name` (`/name` when cluster-scoped). */
export const objectKey = (o: { metadata: { namespace?: string; name: string } }): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The API group of an apiVersion (`''` for the core group's `v1`), as RBAC rules name it. */
export const apiGroupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

/** Where a namespaced object without metadata.namespace lands, as kubectl and the apiserver default it. */
export const DEFAULT_NAMESPACE = 'default';

export function namespaceOf(obj: { metadata: { namespace?: string } }): string {
  return obj.metadata.namespace ?? DEFAULT_NAMESPACE;
}
