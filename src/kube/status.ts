// Status writes in prometheus-operator's UpdateStatus shape: a server-side apply of the status
// subresource whose body names the object and holds only the status fields the given field
// manager owns. Each writer (the reconciler, the SLA status loop) has its own field manager, so an
// apply by one never removes or reverts the other's fields. Forced: those fields are the writer's
// alone, and a conflict could only come from a hand edit, which status is not meant to keep.
import type { KubeClient } from './client.ts';
import type { KubeObject } from './object.ts';

/** The object whose status is written. */
export type StatusTarget = { apiVersion: string; kind: string; name: string; namespace: string };

/** Applies `status` as everything `fieldManager` owns of the target's status; returns the object as the apiserver stored it. */
export function applyStatus<T extends KubeObject = KubeObject>(client: KubeClient, target: StatusTarget, status: object, fieldManager: string): Promise<T> {
  const { apiVersion, kind, name, namespace } = target;
  return client.apply<T>({ apiVersion, kind, metadata: { name, namespace }, status }, fieldManager, 'status', { force: true });
}
