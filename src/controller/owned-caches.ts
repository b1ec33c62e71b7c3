// One cache per owned kind the cluster serves. Which kinds are served is discovered at start and
// again periodically: the optional ones (prometheus-operator's, KEDA's ScaledObject) come from CRDs
// that may be installed after the operator, and their objects must appear without a restart.
import { FIELD_MANAGER } from '../conventions.ts';
import type { KubeClient } from '../kube/client.ts';
import { kindKey } from '../kube/object.ts';
import type { InformerGroup, InformerHandler, InformerTarget } from './informer.ts';
import { ownedView } from './owned-view.ts';
import { MANAGED_SELECTOR, OWNED, controllerOwnerUid } from './watches.ts';

export type OwnedKindsChange = {
  /** Kinds whose cache started in this pass. */
  started: typeof OWNED;
  /** Whether every prometheus-operator kind is served now. */
  monitoringServed: boolean;
};

export class OwnedCaches {
  /** By kindKey; the reconciler reads these (a kind absent here is not rendered). */
  readonly byKind = new Map<string, InformerGroup>();
  private readonly client: Pick<KubeClient, 'resourceFor'>;
  private readonly newCache: (target: InformerTarget) => InformerGroup;
  private readonly onEvent: InformerHandler;

  constructor(client: Pick<KubeClient, 'resourceFor'>, newCache: (target: InformerTarget) => InformerGroup, onEvent: InformerHandler) {
    this.client = client;
    this.newCache = newCache;
    this.onEvent = onEvent;
  }

  /** Starts (and waits for the first list of) a cache for each owned kind that became served. */
  async sync(): Promise<OwnedKindsChange> {
    const started: typeof OWNED = [];
    for (const k of OWNED) {
      const key = kindKey(k);
      if (this.byKind.has(key)) continue;
      // Uncached discovery: a CRD installed a moment ago must be seen on this pass.
      if (!(await this.client.resourceFor(k.apiVersion, k.kind, 0))) continue;
      const cache = this.newCache({ apiVersion: k.apiVersion, kind: k.kind, labelSelector: MANAGED_SELECTOR, indexBy: controllerOwnerUid, transform: ownedView(FIELD_MANAGER) });
      cache.on(this.onEvent);
      await cache.start();
      this.byKind.set(key, cache);
      started.push(k);
    }
    return { started, monitoringServed: OWNED.filter((k) => k.monitoring).every((k) => this.byKind.has(kindKey(k))) };
  }

  stop(): void {
    for (const cache of this.byKind.values()) cache.stop();
  }
}
