// This replica's load as KEDA and the peers see it: requests in flight to a worker and requests held
// waiting for one. The proxy and the hold queue change it; the external scaler and PEER_LOAD_PATH read it.

export type Load = { inFlight: number; held: number };

export class LoadCounter {
  private load: Load = { inFlight: 0, held: 0 };
  private readonly listeners = new Set<() => void>();

  current(): Load { return { ...this.load }; }

  /** Adds `delta` (negative to remove) to one count and tells the listeners. */
  add(kind: keyof Load, delta: number): void {
    this.load[kind] += delta;
    for (const l of this.listeners) l();
  }

  /** Called after every change (the scaler's StreamIsActive pushes on a change to or from idle). */
  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }
}
