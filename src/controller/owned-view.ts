// What an owned cache keeps of each child, the same for every owned kind (a kind added to the
// renderers' list gets it at once). Of managedFields (often half an object) only the entries, in
// order, and only while the operator's own create is still an Update entry: its fields must be
// recorded as applied before the first apply (KubeClient.recordCreateAsApplied), and that patch
// addresses the entry by index. Their fieldsV1 are never kept.
import { createEntryIndex } from '../kube/client.ts';
import type { KubeObject } from '../kube/object.ts';

type ManagedFieldsEntry = { manager?: string; operation?: string; subresource?: string };

export function ownedView(fieldManager: string): (obj: KubeObject) => KubeObject {
  return (obj) => {
    const entries = obj.metadata.managedFields as ManagedFieldsEntry[] | undefined;
    if (entries && createEntryIndex(obj, fieldManager) >= 0) {
      obj.metadata.managedFields = entries.map(({ manager, operation, subresource }) => ({ manager, operation, ...(subresource ? { subresource } : {}) }));
    } else {
      delete obj.metadata.managedFields;
    }
    return obj;
  };
}

/** Whether the child still carries the operator's create as an Update entry (see ownedView). */
export const createNotYetApplied = (child: KubeObject, fieldManager: string): boolean => createEntryIndex(child, fieldManager) >= 0;
