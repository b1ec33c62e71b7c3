// What the controller watches and writes, in kubebuilder's terms: For (the QwenService), Owns
// (every kind the renderers produce), Watches (worker pods, mapped by label) and the kinds it
// only creates (Events), each with the RBAC verbs it needs beside it, as kubebuilder keeps its
// RBAC markers beside the controller. The manager's informers and owner mapping and the chart's
// rules (src/rbac.ts) are all derived from these lists: a kind added to the renderers' OWNED_KINDS
// is watched, mapped and permitted at once. Pure data and pure functions.
import { API_VERSION, GROUP, KIND, PLURAL } from '../api/qwenservice.ts';
import { LABEL_MANAGED_BY, LABEL_QWENSERVICE, OPERATOR_NAME } from '../conventions.ts';
import { objectKey, type KubeObject } from '../kube/object.ts';
import { GRANTED_RULES, OWNED_KINDS, type OwnedKind } from '../render/index.ts';
import { ANALYSIS_RUN } from '../plan/kinds.ts';

/** A kind and the verbs the operator needs on it. */
export type PermittedKind = { apiVersion: string; kind: string; plural: string; verbs: string[] };

/**
 * For: read from the cache (list+watch); its status is written with server-side apply (patch).
 * `update` on its finalizers subresource is what the OwnerReferencesPermissionEnforcement
 * admission plugin (on in OpenShift) demands of whoever sets `blockOwnerDeletion` on a child's
 * ownerReference to it: without it every create of a child is refused there. No finalizer is
 * ever written.
 */
export const PRIMARY = { apiVersion: API_VERSION, kind: KIND, plural: PLURAL, verbs: ['list', 'watch'], statusVerbs: ['patch'], finalizersVerbs: ['update'] };

// A new child is created (`create`), then its managedFields entry is converted to Apply and
// later changes are server-side applies (both `patch`); pruning needs `delete`. Caches come
// from list+watch, so no `get` on children.
const OWNED_VERBS = ['list', 'watch', 'create', 'patch', 'delete'];

/** Owns: events map to the QwenService through the child's controller ownerReference. */
export const OWNED: Array<OwnedKind & PermittedKind> = OWNED_KINDS.map((k) => ({ ...k, verbs: OWNED_VERBS }));

/** Only children carrying this label are cached (and worker pods inherit it from the pod template). */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`;

/**
 * Watches: worker pods, read for status (why workers are not ready). They are owned by
 * ReplicaSets, not by us, so they map to their QwenService by label.
 */
export const WORKER_PODS: PermittedKind = { apiVersion: 'v1', kind: 'Pod', plural: 'pods', verbs: ['list', 'watch'] };

/** Read live, never cached nor written: the AnalysisRun behind a canary's verdict (RolloutGated's message; listed by the aborted version's hash). */
export const READ_ONLY: PermittedKind[] = [{ ...ANALYSIS_RUN, verbs: ['get', 'list'] }];

/** Never used by the operator itself: held so that it may write the Roles (and RoleBindings) that grant them to the pods it runs (RBAC escalation prevention). */
export const GRANTED: { apiGroups: string[]; resources: string[]; verbs: string[] }[] = GRANTED_RULES;

/** Written but never read: Events on QwenServices (EventRecorder). */
export const CREATED_ONLY: PermittedKind[] = [{ apiVersion: 'v1', kind: 'Event', plural: 'events', verbs: ['create'] }];

/** Index key of a worker pod, and the key its events enqueue: its QwenService's `namespace/name`. */
export function podOwnerKey(pod: KubeObject): string | undefined {
  return qwenServiceKey(pod.metadata.namespace, pod.metadata.labels?.[LABEL_QWENSERVICE]);
}

/** The pod index key of one QwenService (see podOwnerKey). */
export function qwenServiceKey(namespace: string | undefined, name: string | undefined): string | undefined {
  return name === undefined ? undefined : objectKey({ metadata: { namespace, name } });
}

/** The uid of a child's controlling QwenService (the owned caches' index key). */
export function controllerOwnerUid(obj: KubeObject): string | undefined {
  return controllerOwner(obj)?.uid;
}

/** The key an owned child's events enqueue: its controlling QwenService's `namespace/name`. */
export function childOwnerKey(obj: KubeObject): string | undefined {
  const owner = controllerOwner(obj);
  return owner?.uid ? qwenServiceKey(obj.metadata.namespace, owner.name) : undefined;
}

function controllerOwner(obj: KubeObject) {
  return obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`));
}
