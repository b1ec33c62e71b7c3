// An EndpointSource that follows the EndpointSlices of one Service (label kubernetes.io/service-name):
// the workers' Service for the proxy, the router's own headless Service for the peers' loads.
// One namespaced list+watch (client-node's ListWatch). That informer relists by itself on 410 Gone
// but stops for good on any other error (apiserver restarting, RBAC not yet granted), so it is
// restarted here with a backoff: a router that lost its watch would route to stale endpoints forever.
import { DiscoveryV1Api, KubeConfig, makeInformer, type V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Endpoint, EndpointSource } from './endpoints.ts';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** In a pod: its service account; elsewhere (tests, a developer's shell): the file(s) named by KUBECONFIG. */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (process.env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromCluster();
  return kc;
}

/** A port of the endpoints: its name in the Service (`http`) or its number (`8080`, or a digits-only string). */
export type PortRef = string | number;

function portOf(slice: V1EndpointSlice, port: PortRef): number | undefined {
  const byNumber = typeof port === 'number' ? port : /^\d+$/.test(port) ? Number(port) : undefined;
  const match = (slice.ports ?? []).find((p) => (byNumber !== undefined ? p.port === byNumber : (p.name ?? '') === port));
  return match?.port ?? undefined;
}

/**
 * The ready endpoints of `slices` on `port`, deduplicated (an address can appear in two slices while
 * the controller moves it) and sorted by id, so equal sets compare equal. Ready means `ready` not
 * false (nil is ready, per the API) and not terminating. Only an endpoint's first address is used:
 * the API defines no meaning for the others.
 */
export function readyEndpoints(slices: readonly V1EndpointSlice[], port: PortRef): Endpoint[] {
  const byId = new Map<string, Endpoint>();
  for (const slice of slices) {
    const number = portOf(slice, port);
    if (number === undefined) continue;
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
      const address = e.addresses[0];
      if (!address) continue;
      const host = slice.addressType === 'IPv6' || address.includes(':') ? `[${address}]` : address;
      const id = `${host}:${number}`;
      byId.set(id, { id, url: `http://${id}` });
    }
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export type EndpointSliceSourceOptions = {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The Service whose EndpointSlices are followed. */
  service: string;
  port: PortRef;
  log?: Logger;
  /** Restart delay after a failed list or watch: doubles from `initialMs` up to `maxMs`, back to `initialMs` after a good list. */
  backoff?: { initialMs: number; maxMs: number };
};

export type EndpointSliceSource = EndpointSource & {
  /** Resolves after the first successful list (the router may then report itself ready). */
  synced: Promise<void>;
};

/** Starts following the Service's EndpointSlices at once; close() stops it. */
export function endpointSliceSource(opts: EndpointSliceSourceOptions): EndpointSliceSource {
  const { kubeConfig, namespace, service, port, log } = opts;
  const backoff = opts.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  const selector = `${SERVICE_NAME_LABEL}=${service}`;
  const api = kubeConfig.makeApiClient(DiscoveryV1Api);
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => { markSynced = resolve; });
  let delay = backoff.initialMs;
  const informer = makeInformer<V1EndpointSlice>(
    kubeConfig,
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    async () => {
      const list = await api.listNamespacedEndpointSlice({ namespace, labelSelector: selector });
      delay = backoff.initialMs;
      // The informer fills its cache from this list right after it returns (an empty list fires no event).
      setImmediate(() => { recompute(); markSynced(); });
      return list;
    },
    selector,
  );

  let endpoints: readonly Endpoint[] = [];
  let key = '';
  const listeners = new Set<(e: readonly Endpoint[]) => void>();
  let closed = false;
  let restart: NodeJS.Timeout | undefined;

  const recompute = () => {
    if (closed) return;
    const next = readyEndpoints(informer.list(namespace), port);
    const nextKey = next.map((e) => e.id).join(',');
    if (nextKey === key) return;
    endpoints = next;
    key = nextKey;
    log?.info({ service, namespace, endpoints: next.map((e) => e.id) }, 'endpoints changed');
    for (const l of listeners) l(endpoints);
  };
  informer.on('change', recompute);
  informer.on('error', (err: unknown) => {
    // stop() aborts the watch request, which reports as an error too.
    if (closed) return;
    log?.warn({ service, namespace, err: String(err), retryInMs: delay }, 'EndpointSlice watch failed, restarting');
    clearTimeout(restart);
    restart = setTimeout(() => { if (!closed) void informer.start(); }, delay);
    delay = Math.min(delay * 2, backoff.maxMs);
  });
  void informer.start();

  return {
    synced,
    current: () => endpoints,
    subscribe(onChange) {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    close() {
      closed = true;
      clearTimeout(restart);
      listeners.clear();
      void informer.stop();
    },
  };
}
