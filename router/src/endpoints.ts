// Where requests can go: the ready endpoints of a Service, as a changing list. The router's choice
// (affinity) reads the workers' list; the external scaler's peer view reads the router replicas'.
// Two sources: EndpointSlices of a Service (in a cluster) and a static list (tests, benchmarks).

/** One ready endpoint. `id` is stable while the endpoint lives (its address:port): hashing keys on it. */
export type Endpoint = { readonly id: string; readonly url: string };

export interface EndpointSource {
  /** The ready endpoints now (empty before the first list and when none is ready). */
  current(): readonly Endpoint[];
  /** Called with the new list after every change; returns the unsubscribe. */
  subscribe(onChange: (endpoints: readonly Endpoint[]) => void): () => void;
  close(): void;
}

/** A fixed list (`--upstreams`): every URL is taken as ready. */
export function staticEndpoints(urls: readonly string[]): EndpointSource {
  const endpoints = urls.map((url) => ({ id: new URL(url).host, url: url.replace(/\/+$/, '') }));
  return { current: () => endpoints, subscribe: () => () => {}, close: () => {} };
}
