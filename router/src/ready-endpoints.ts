// The endpoints requests may go to: the source's ready ones less those the router found refusing
// connections (a pod gone before its EndpointSlice says so, a static upstream not started yet).
// Such an endpoint is ejected and probed (GET /readyz) until it answers 200, then it is back.
import type { Logger } from 'pino';
import type { Endpoint, EndpointSource } from './endpoints.ts';

export const PROBE_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 2_000;

export class ReadyEndpoints {
  private readonly source: EndpointSource;
  private readonly log: Logger;
  private readonly onChange: (endpoints: readonly Endpoint[]) => void;
  private readonly probeMs: number;
  /** Ejected endpoint ids → their probe timer. */
  private readonly ejected = new Map<string, NodeJS.Timeout>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(source: EndpointSource, opts: { log: Logger; onChange: (endpoints: readonly Endpoint[]) => void; probeIntervalMs?: number }) {
    this.source = source;
    this.log = opts.log;
    this.onChange = opts.onChange;
    this.probeMs = opts.probeIntervalMs ?? PROBE_INTERVAL_MS;
    this.unsubscribe = source.subscribe(() => {
      const ids = new Set(source.current().map((e) => e.id));
      for (const [id, t] of this.ejected) if (!ids.has(id)) { clearTimeout(t); this.ejected.delete(id); }
      this.changed();
    });
  }

  current(): readonly Endpoint[] {
    const all = this.source.current();
    return this.ejected.size === 0 ? all : all.filter((e) => !this.ejected.has(e.id));
  }

  private changed(): void { this.onChange(this.current()); }

  /** `endpoint` refused a connection: out until its /readyz answers 200. */
  eject(endpoint: Endpoint, reason: string): void {
    if (this.closed || this.ejected.has(endpoint.id)) return;
    this.log.warn({ endpoint: endpoint.url, reason }, 'endpoint ejected: probing it until /readyz answers 200');
    const probe = async () => {
      const ok = await fetch(`${endpoint.url}/readyz`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then((r) => { void r.body?.cancel(); return r.status === 200; }, () => false);
      if (this.closed || !this.ejected.has(endpoint.id)) return;
      if (!ok) { this.ejected.set(endpoint.id, setTimeout(() => void probe(), this.probeMs)); return; }
      this.ejected.delete(endpoint.id);
      this.log.info({ endpoint: endpoint.url }, 'endpoint back: /readyz answered 200');
      this.changed();
    };
    this.ejected.set(endpoint.id, setTimeout(() => void probe(), this.probeMs));
    this.changed();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const t of this.ejected.values()) clearTimeout(t);
    this.ejected.clear();
  }
}
