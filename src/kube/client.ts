// The operator's thin client: plain JSON over HTTPS (credentials from a KubeAuth: our own
// kubeconfig reader or client-node's KubeConfig), discovery-based paths, server-side apply
// (objects and the status subresource), list, delete, watch. Objects stay plain JSON end to end,
// so what we compare with the watch cache is what we sent.
import { Agent, request, type RequestOptions } from 'node:https';
import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { createSecureContext } from 'node:tls';
import { KubeApiError } from './errors.ts';
import type { KubeAuth } from './kubeconfig.ts';
import type { KubeObject } from './object.ts';

export type ApiResource = { name: string; kind: string; namespaced: boolean; verbs: string[] };
export type ObjectList = { items: KubeObject[]; resourceVersion: string };
type Query = Record<string, string | number | boolean | undefined>;

/** Counts every request that changes state, by verb and kind: "zero writes at rest" is measurable. */
export type WriteCounter = (verb: string, kind: string) => void;

/**
 * Called right before a write is sent: throws to refuse it (the leader election fence), or
 * returns how long the write may still take (ms): until the lease it was let through under could
 * pass to another replica. Undefined: no lease, the default write deadline.
 */
export type WriteGate = (verb: string, kind: string) => number | undefined;

/** A write's whole exchange, when no lease asks for less (the leader's writes always do). */
export const WRITE_DEADLINE_MS = 30_000;

/** Options of one write: `unfenced` for the few writes that must pass the gate (the Lease itself). */
export type WriteOptions = { signal?: AbortSignal; unfenced?: boolean };

type RequestOpts = {
  query?: Query; body?: unknown; contentType?: string;
  /** Idle timeout of the socket (ms). */
  timeoutMs?: number;
  /** Aborts the whole request, answer included. */
  signal?: AbortSignal;
  /** Marks a write: counted (onWrite) and checked (writeGate) right before it is sent. */
  write?: { verb: string; kind: string; unfenced?: boolean };
};

const abortReason = (s: AbortSignal): string => {
  const r = s.reason as { name?: string; message?: string } | undefined;
  return r?.name === 'TimeoutError' ? 'deadline exceeded' : `aborted${r?.message ? ` (${r.message})` : ''}`;
};

/**
 * The agents requests go through, by what they carry. Watches hold their socket for minutes, one
 * per kind and namespace (13 per watched namespace with the optional kinds): in one capped pool
 * they took every socket from about 5 namespaces on, and Lease renewals and writes queued behind
 * them, renewals past their deadline and writes past the fence that let them through. So watches
 * have an agent of their own and neither agent caps its sockets: a request never waits for a
 * socket, it opens one.
 */
type Connection = { at: number; requests: Agent | HttpAgent; watches: Agent | HttpAgent; headers: OutgoingHttpHeaders; auth?: string };

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: KubeObject & { code?: number } };

export class KubeClient {
  readonly kc: KubeAuth;
  private readonly server: URL;
  private readonly discovery = new Map<string, { at: number; resources: ApiResource[] }>();
  private connection?: Connection;
  private connecting?: Promise<Connection>;
  onWrite: WriteCounter = () => {};
  writeGate: WriteGate = () => undefined;

  constructor(kc: KubeAuth) {
    this.kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const conn = await this.connect();
    let signal = opts.signal;
    if (signal?.aborted) throw new Error(`${method} ${url.pathname}: ${abortReason(signal)}`);
    // Checked in the same tick as the request is sent (its agent never queues it): nothing can
    // run between the fence and the wire. The write's deadline ends where the lease could pass
    // to another replica, on both sides: aborted here, and `timeout` makes the apiserver give up
    // on it (its context ends) if it arrives late.
    if (opts.write) {
      const left = opts.write.unfenced ? undefined : this.writeGate(opts.write.verb, opts.write.kind);
      const deadlineMs = Math.max(1, Math.floor(Math.min(left ?? WRITE_DEADLINE_MS, WRITE_DEADLINE_MS)));
      const deadline = AbortSignal.timeout(deadlineMs);
      signal = signal ? AbortSignal.any([signal, deadline]) : deadline;
      url.searchParams.set('timeout', `${deadlineMs}ms`);
      this.onWrite(opts.write.verb, opts.write.kind);
    }
    const options: RequestOptions = {
      method,
      agent: conn.requests,
      ...(conn.auth ? { auth: conn.auth } : {}),
      headers: {
        ...conn.headers,
        accept: 'application/json',
        ...(payload !== undefined ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
      timeout: opts.timeoutMs ?? 30_000,
    };
    const send = url.protocol === 'http:' ? httpRequest : request;
    return new Promise<T>((resolve, reject) => {
      // A deadline (signal) covers the whole exchange, body included; `timeout` is only the idle timer.
      const onAbort = () => req.destroy(new Error(`${method} ${url.pathname}: ${abortReason(signal!)}`));
      const settle = <A>(fn: (a: A) => void) => (a: A) => { signal?.removeEventListener('abort', onAbort); fn(a); };
      const ok = settle(resolve);
      const fail = settle(reject);
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try { body = text ? JSON.parse(text) : undefined; } catch { body = { message: text.slice(0, 300) }; }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) ok(body as T);
          else fail(new KubeApiError(method, url.pathname, status, body));
        });
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', fail);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /**
   * TLS material and credentials from the kubeconfig, with keep-alive agents (see Connection),
   * rebuilt once a minute so rotated service-account tokens and certificates are followed.
   * client-node's own agent (the `agent` its applyToHTTPSOptions sets, ignored here) is cached per
   * cluster and user for the life of its KubeConfig: built from the first call's certificates, it
   * never picks up rotated ones, although each call re-reads the files.
   */
  private async connect(): Promise<Connection> {
    if (this.connection && Date.now() - this.connection.at < 60_000) return this.connection;
    // One build for the requests that arrive meanwhile (the informers start together).
    this.connecting ??= this.newConnection().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  private async newConnection(): Promise<Connection> {
    const o: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(o);
    // One TLS context for every connection (Node would build one per socket from ca/cert/key).
    const secureContext = this.server.protocol === 'http:' ? undefined : createSecureContext({ ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase });
    const agent = (maxFreeSockets: number): Agent | HttpAgent => {
      // Plain http: a local `kubectl proxy`.
      if (this.server.protocol === 'http:') return new HttpAgent({ keepAlive: true, maxFreeSockets });
      return new Agent({
        secureContext, servername: o.servername,
        ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
        keepAlive: true, maxFreeSockets,
      });
    };
    this.connection = {
      at: Date.now(), requests: agent(16), watches: agent(4),
      headers: (o.headers ?? {}) as OutgoingHttpHeaders, ...(typeof o.auth === 'string' ? { auth: o.auth } : {}),
    };
    return this.connection;
  }

  /**
   * One watch request: calls onEvent per line until the server ends the stream (resolves), the
   * connection fails (rejects), nothing arrives for idleMs (resolves: a silent watch may be a dead
   * one, so the caller simply watches again), or signal aborts (resolves).
   */
  async watch(path: string, query: Query, onEvent: (e: WatchEvent) => void, opts: { idleMs: number; signal?: AbortSignal }): Promise<void> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries({ ...query, watch: true })) if (v !== undefined) url.searchParams.set(k, String(v));
    const conn = await this.connect();
    const send = url.protocol === 'http:' ? httpRequest : request;
    await new Promise<void>((resolve, reject) => {
      const req = send(url, { method: 'GET', agent: conn.watches, ...(conn.auth ? { auth: conn.auth } : {}), headers: { ...conn.headers, accept: 'application/json' } }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown;
            try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { body = undefined; }
            reject(new KubeApiError('WATCH', url.pathname, res.statusCode ?? 0, body));
          });
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.trim()) onEvent(JSON.parse(line) as WatchEvent);
          }
        });
        res.on('end', () => resolve());
        res.on('close', () => resolve());
        res.on('error', reject);
      });
      req.setTimeout(opts.idleMs, () => { req.destroy(); resolve(); });
      opts.signal?.addEventListener('abort', () => { req.destroy(); resolve(); }, { once: true });
      req.on('error', (err) => (opts.signal?.aborted ? resolve() : reject(err)));
      req.end();
    });
  }

  /** Resources served for an apiVersion; undefined when the group/version is not served at all. */
  async resources(apiVersion: string, maxAgeMs = 30_000): Promise<ApiResource[] | undefined> {
    const hit = this.discovery.get(apiVersion);
    if (hit && Date.now() - hit.at < maxAgeMs) return hit.resources;
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    try {
      const list = await this.request<{ resources: ApiResource[] }>('GET', base);
      const resources = list.resources.filter((r) => !r.name.includes('/'));
      this.discovery.set(apiVersion, { at: Date.now(), resources });
      return resources;
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) {
        this.discovery.set(apiVersion, { at: Date.now(), resources: [] });
        return undefined;
      }
      throw e;
    }
  }

  async resourceFor(apiVersion: string, kind: string, maxAgeMs?: number): Promise<ApiResource | undefined> {
    return (await this.resources(apiVersion, maxAgeMs))?.find((r) => r.kind === kind);
  }

  /** Path of a collection (namespace undefined = all namespaces, or a cluster-scoped kind). */
  async collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const r = await this.resourceFor(apiVersion, kind);
    if (!r) throw new KubeApiError('GET', `${apiVersion}/${kind}`, 404, { message: `${kind}.${apiVersion} is not served by this cluster`, reason: 'NotFound' });
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return r.namespaced && namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${r.name}` : `${base}/${r.name}`;
  }

  async objectPath(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<string> {
    return `${await this.collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace)}/${encodeURIComponent(obj.metadata.name)}`;
  }

  async list(apiVersion: string, kind: string, opts: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {}): Promise<ObjectList> {
    const path = await this.collectionPath(apiVersion, kind, opts.namespace);
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{ items: KubeObject[]; metadata: { resourceVersion: string; continue?: string } }>('GET', path, {
        query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: 500, continue: cont },
      });
      for (const item of page.items) items.push({ ...item, apiVersion, kind });
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  async get<T extends KubeObject>(apiVersion: string, kind: string, namespace: string | undefined, name: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>('GET', await this.objectPath({ apiVersion, kind, metadata: { name, namespace } }), opts);
  }

  /**
   * One object by name, read live (not from a cache) with `list` and a field selector, so it needs
   * no `get` permission; undefined when it does not exist.
   */
  async find<T extends KubeObject>(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<T | undefined> {
    const path = await this.collectionPath(apiVersion, kind, namespace);
    const page = await this.request<{ items: T[] }>('GET', path, { query: { fieldSelector: `metadata.name=${name}`, limit: 1 } });
    const item = page.items[0];
    return item ? { ...item, apiVersion, kind } : undefined;
  }

  /**
   * Server-side apply. `force` (default true): we own the fields we render, so a user's edit of
   * them is reverted. Without force, fields someone else manages are a 409 instead.
   */
  async apply<T extends KubeObject>(obj: KubeObject, fieldManager: string, subresource?: 'status', opts: WriteOptions & { force?: boolean } = {}): Promise<T> {
    const path = (await this.objectPath(obj)) + (subresource ? `/${subresource}` : '');
    return this.request<T>('PATCH', path, {
      query: { fieldManager, force: opts.force ?? true }, body: obj, contentType: 'application/apply-patch+yaml',
      signal: opts.signal, write: { verb: subresource ? 'apply-status' : 'apply', kind: obj.kind, unfenced: opts.unfenced },
    });
  }

  async create<T extends KubeObject>(obj: KubeObject, fieldManager?: string, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>('POST', await this.collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace), { body: obj, query: { fieldManager }, signal: opts.signal, write: { verb: 'create', kind: obj.kind, unfenced: opts.unfenced } });
  }

  /**
   * Records the fields a create set as applied by `fieldManager`. A create is an Update
   * operation: its fields stay owned by that entry, so a later apply by the same manager that
   * drops one would never remove it. Converting the entry to Apply is what client-go's csaupgrade
   * does. `current` is the object as last seen, its managedFields in order (their fieldsV1 are not
   * needed); returns it unchanged when it has no such entry.
   */
  async recordCreateAsApplied<T extends KubeObject>(current: T, fieldManager: string, opts: WriteOptions = {}): Promise<T> {
    const uid = current.metadata.uid;
    let seen: T | undefined = current;
    // The entries are sorted (operation, time, manager): another writer's entry (the Deployment
    // controller's status, a second after the create) can move ours. The patch tests that it
    // still addresses our entry of this object; when it no longer does, read it again.
    for (let attempt = 0; seen && attempt < 5; attempt++) {
      const i = createEntryIndex(seen, fieldManager);
      if (i < 0 || seen.metadata.uid !== uid) return seen;
      const entry = `/metadata/managedFields/${i}`;
      try {
        return await this.request<T>('PATCH', await this.objectPath(current), {
          query: { fieldManager }, contentType: 'application/json-patch+json',
          body: [
            { op: 'test', path: '/metadata/uid', value: uid },
            { op: 'test', path: `${entry}/manager`, value: fieldManager },
            { op: 'test', path: `${entry}/operation`, value: 'Update' },
            { op: 'replace', path: `${entry}/operation`, value: 'Apply' },
          ],
          signal: opts.signal, write: { verb: 'patch', kind: current.kind, unfenced: opts.unfenced },
        });
      } catch (e) {
        if (!(e instanceof KubeApiError && (e.status === 409 || e.status === 422))) throw e;
      }
      seen = await this.find<T>(current.apiVersion, current.kind, current.metadata.namespace, current.metadata.name);
    }
    return seen ?? current;
  }

  async replace<T extends KubeObject>(obj: KubeObject, fieldManager?: string, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>('PUT', await this.objectPath(obj), { body: obj, query: { fieldManager }, signal: opts.signal, write: { verb: 'update', kind: obj.kind, unfenced: opts.unfenced } });
  }

  async delete(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string } }): Promise<void> {
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(obj.metadata.uid ? { preconditions: { uid: obj.metadata.uid } } : {}) };
    await this.request('DELETE', await this.objectPath(obj), { body, write: { verb: 'delete', kind: obj.kind } });
  }
}

/** Where `fieldManager`'s create (an Update entry of the main resource) is in the object's managedFields; -1 when it has none. */
export function createEntryIndex(obj: KubeObject, fieldManager: string): number {
  const entries = (obj.metadata.managedFields ?? []) as Array<{ manager?: string; operation?: string; subresource?: string }>;
  return entries.findIndex((m) => m.manager === fieldManager && m.operation === 'Update' && !m.subresource);
}
