// Remembers the resourceVersion of every object the operator itself just wrote, so the watch
// event that echoes that write back does not trigger another reconcile of the owner (with 6
// children per QwenService, echoes would otherwise be most of the reconciles at scale). Each
// version is forgotten once its echo is seen, so the set holds only writes whose echo is still on
// its way, whatever the number of QwenServices; a write that changes an object twice (a create
// then its record as applied) leaves two.
import type { KubeObject } from '../render/common.ts';

const LIMIT = 10_000;

export class WriteEchoes {
  private readonly versions = new Set<string>();

  private static key(o: { kind: string; metadata: { namespace?: string; name: string } }, rv: string): string {
    return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}@${rv}`;
  }

  /** Records what the apiserver answered to one of our writes. */
  wrote(answer: KubeObject | undefined): void {
    const rv = answer?.metadata?.resourceVersion;
    if (!answer || !rv) return;
    this.versions.add(WriteEchoes.key(answer, rv));
    if (this.versions.size > LIMIT) this.versions.delete(this.versions.values().next().value!);
  }

  /** True when a watch event carries a version one of our own writes produced (seen once: then forgotten). */
  isEcho(obj: KubeObject): boolean {
    const rv = obj.metadata.resourceVersion;
    return rv !== undefined && this.versions.delete(WriteEchoes.key(obj, rv));
  }
}
