// A list-then-watch cache of one kind (after kubernetes-fluent-client's watch.ts): list, then
// watch from the list's resourceVersion; relist on 410 Gone; on any other failure restart with
// exponential backoff (client-node's own informer stops for good on non-410 errors); a watchdog
// restarts a watch that has been silent for too long. Handlers only enqueue keys.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import { objectKey, type KubeObject } from '../kube/object.ts';
import { digestLargeFields } from './digest.ts';
import { internStrings } from './intern.ts';

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler = (event: InformerEvent, obj: KubeObject) => void;
export type InformerTarget = {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  /** One secondary key per object (e.g. its owner's uid), so lookups by it need no scan. */
  indexBy?: (obj: KubeObject) => string | undefined;
  /**
   * What the cache keeps of each object, applied as it arrives (the object as listed or watched,
   * managedFields included). Default: all but managedFields. Large fields are digested after it.
   */
  transform?: (obj: KubeObject) => KubeObject;
};

const WATCH_TIMEOUT_S = 240; // the server ends each watch; we resume from the last resourceVersion
const WATCHDOG_MS = (WATCH_TIMEOUT_S + 60) * 1000;
const MAX_BACKOFF_MS = 30_000;

class GoneError extends Error {}

/** managedFields are often half of an object's size: by default a cache keeps none of them. */
export function withoutManagedFields(obj: KubeObject): KubeObject {
  delete obj.metadata.managedFields;
  return obj;
}

/** Read access to cached objects of one kind. */
export type Cache = {
  get(namespace: string | undefined, name: string): KubeObject | undefined;
  list(namespace?: string): KubeObject[];
  /** Objects whose index key (InformerTarget.indexBy) is `value`. */
  byIndex(value: string): KubeObject[];
};

/** One kind watched in several namespaces, read as one cache. */
export class InformerGroup implements Cache {
  readonly informers: Informer[];
  constructor(informers: Informer[]) {
    this.informers = informers;
  }
  get(namespace: string | undefined, name: string): KubeObject | undefined {
    for (const i of this.informers) {
      const hit = i.get(namespace, name);
      if (hit) return hit;
    }
    return undefined;
  }
  list(namespace?: string): KubeObject[] {
    return this.informers.flatMap((i) => i.list(namespace));
  }
  byIndex(value: string): KubeObject[] {
    return this.informers.flatMap((i) => i.byIndex(value));
  }
  on(handler: InformerHandler): void {
    for (const i of this.informers) i.on(handler);
  }
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }
  stop(): void {
    for (const i of this.informers) i.stop();
  }
  relists(): number {
    return this.informers.reduce((n, i) => n + i.relists, 0);
  }
}

export class Informer implements Cache {
  readonly target: InformerTarget;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly store = new Map<string, KubeObject>();
  /** Index value -> its one key, or a Set when several (a QwenService has one child per kind: a Set each would cost more than the key). */
  private readonly index = new Map<string, string | Set<string>>();
  private readonly handlers: InformerHandler[] = [];
  private stopped = false;
  private abort?: AbortController;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private failures = 0;
  /** Relists and watch restarts, for tests and metrics. */
  relists = 0;

  constructor(client: KubeClient, target: InformerTarget, log: Logger) {
    this.client = client;
    this.target = target;
    this.log = log.child({ informer: `${target.kind}${target.namespace ? `/${target.namespace}` : ''}` });
  }

  on(handler: InformerHandler): void {
    this.handlers.push(handler);
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): KubeObject[] {
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  byIndex(value: string): KubeObject[] {
    const keys = this.index.get(value);
    return (typeof keys === 'string' ? [keys] : [...(keys ?? [])]).map((k) => this.store.get(k)).filter((o): o is KubeObject => o !== undefined);
  }

  /** Every store write goes through here and remove(), keeping the index in step. */
  private put(key: string, obj: KubeObject): KubeObject | undefined {
    const old = this.store.get(key);
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    const v = this.target.indexBy?.(obj);
    if (v !== undefined) {
      const keys = this.index.get(v);
      if (keys === undefined || keys === key) this.index.set(v, key);
      else if (typeof keys === 'string') this.index.set(v, new Set([keys, key]));
      else keys.add(key);
    }
    return old;
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.unindex(key, old);
    this.store.delete(key);
  }

  private unindex(key: string, obj: KubeObject): void {
    const v = this.target.indexBy?.(obj);
    if (v === undefined) return;
    const keys = this.index.get(v);
    if (keys === key) this.index.delete(v);
    else if (typeof keys === 'object') {
      keys.delete(key);
      if (keys.size === 1) this.index.set(v, keys.values().next().value!);
    }
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Starts the loop; resolves once the first list is in the cache. */
  start(): Promise<void> {
    void this.run();
    return new Promise((resolve) => (this.synced ? resolve() : this.syncWaiters.push(resolve)));
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        let rv = await this.relist();
        for (;;) {
          if (this.stopped) return;
          rv = await this.watchFrom(rv);
        }
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof GoneError) {
          this.log.info('watch expired (410 Gone); relisting');
          continue;
        }
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures++);
        this.log.warn({ err: String(err), retryInMs: delay }, 'list/watch failed; restarting');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.client.list(this.target.apiVersion, this.target.kind, { namespace: this.target.namespace, labelSelector: this.target.labelSelector });
    this.relists++;
    const seen = new Set<string>();
    for (const listed of items) {
      const item = this.trim(listed);
      const key = objectKey(item);
      seen.add(key);
      const old = this.put(key, item);
      if (!old) this.emit('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('update', item);
    }
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.remove(key);
        this.emit('delete', old);
      }
    }
    this.failures = 0;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return resourceVersion;
  }

  /** One watch request; resolves with the last resourceVersion seen when the server ends it. */
  private async watchFrom(resourceVersion: string): Promise<string> {
    let rv = resourceVersion;
    let failure: Error | undefined;
    this.abort = new AbortController();
    const path = await this.client.collectionPath(this.target.apiVersion, this.target.kind, this.target.namespace);
    await this.client.watch(path, { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_S, labelSelector: this.target.labelSelector }, ({ type, object }) => {
      if (failure) return;
      if (type === 'ERROR') {
        failure = object.code === 410 ? new GoneError() : new Error(`watch error: ${JSON.stringify(object).slice(0, 300)}`);
        this.abort?.abort();
        return;
      }
      if (object?.metadata?.resourceVersion) rv = object.metadata.resourceVersion;
      if (type === 'BOOKMARK') return;
      const item = this.trim({ ...object, apiVersion: this.target.apiVersion, kind: this.target.kind });
      const key = objectKey(item);
      if (type === 'DELETED') {
        this.remove(key);
        this.emit('delete', item);
      } else {
        const existed = this.put(key, item) !== undefined;
        this.emit(existed ? 'update' : 'add', item);
      }
    }, { idleMs: WATCHDOG_MS, signal: this.abort.signal });
    if (failure) throw failure;
    return rv;
  }

  private trim(obj: KubeObject): KubeObject {
    return internStrings(digestLargeFields((this.target.transform ?? withoutManagedFields)(obj)));
  }

  private emit(event: InformerEvent, obj: KubeObject): void {
    for (const h of this.handlers) {
      try { h(event, obj); } catch (err) { this.log.error({ err: String(err) }, 'informer handler failed'); }
    }
  }
}
