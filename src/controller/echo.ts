// Remembers the resourceVersion of every object the operator itself just wrote, so the watch
// event that echoes that write back does not trigger another reconcile of the owner (with 6
// children per QwenService, echoes would otherwise be most of the reconciles at scale).
import type { KubeObject } from '../render/common.ts';

const LIMIT = 10_000;

export class WriteEchoes {
  private readonly versions = new Map<string, string>();

  private static key(o: { kind: string; metadata: { namespace?: string; name: string } }): string {
    return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  /** Records what the apiserver answered to one of our writes. */
  wrote(answer: KubeObject | undefined): void {
    const rv = answer?.metadata?.resourceVersion;
    if (!answer || !rv) return;
    const key = WriteEchoes.key(answer);
    this.versions.delete(key);
    this.versions.set(key, rv);
    if (this.versions.size > LIMIT) this.versions.delete(this.versions.keys().next().value!);
  }

  /** True when a watch event carries exactly the version our own last write produced. */
  isEcho(obj: KubeObject): boolean {
    const rv = obj.metadata.resourceVersion;
    return rv !== undefined && this.versions.get(WriteEchoes.key(obj)) === rv;
  }
}
