// Which worker takes a request. With a key (affinity Prefix): bounded-load consistent hashing
// (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2018): walk the ring
// from the key's point to the first endpoint whose in-flight load is under
// ceil((1+ε) × (total in flight + 1) / n) — the key's own endpoint (`hit`) unless it is full, then
// the next one that is not (`spill`). Without a key: the endpoint with the fewest requests in
// flight (`none`). Pure apart from the per-endpoint counts it keeps.
import type { AFFINITY_RESULTS } from './contract.ts';
import type { Endpoint } from './endpoints.ts';
import { hash32, HashRing } from './hash-ring.ts';

export type AffinityResult = (typeof AFFINITY_RESULTS)[number];
export type Choice = { endpoint: Endpoint; result: AffinityResult };

/** The load bound of one endpoint when `total` requests are in flight over `n` endpoints and one more comes. */
export const loadBound = (total: number, n: number, epsilon: number) => Math.ceil(((1 + epsilon) * (total + 1)) / n);

/**
 * The bounded-load choice on `ring` for a key at `position`: the first endpoint in ring order, not in
 * `exclude`, whose load is under the bound. Some endpoint always is (n × bound > total), unless
 * `exclude` leaves only full ones: then the least loaded of the rest.
 */
export function chooseBounded(ring: HashRing, position: number, load: (id: string) => number, epsilon: number, exclude: ReadonlySet<string> = new Set()):
  { id: string; result: 'hit' | 'spill' } | undefined {
  const eligible = ring.ids.filter((id) => !exclude.has(id));
  if (eligible.length === 0) return undefined;
  let total = 0;
  for (const id of ring.ids) total += load(id);
  const bound = loadBound(total, ring.size, epsilon);
  let first = true;
  for (const id of ring.walk(position)) {
    if (exclude.has(id)) continue;
    if (load(id) < bound) return { id, result: first ? 'hit' : 'spill' };
    first = false;
  }
  return { id: leastLoaded(eligible, load, 0)!, result: 'spill' };
}

/** The least loaded of `ids`; ties go round-robin from `turn` so idle endpoints share the work. */
export function leastLoaded(ids: readonly string[], load: (id: string) => number, turn: number): string | undefined {
  let best: string | undefined;
  let bestLoad = Infinity;
  for (let k = 0; k < ids.length; k++) {
    const id = ids[(turn + k) % ids.length]!;
    const l = load(id);
    if (l < bestLoad) { best = id; bestLoad = l; }
  }
  return best;
}

/** The ready endpoints, their ring, and the requests in flight to each (counted from acquire to release). */
export class Balancer {
  private endpoints = new Map<string, Endpoint>();
  private ring = new HashRing([]);
  private readonly inFlight = new Map<string, number>();
  private turn = 0;
  private readonly epsilon: number;
  private readonly load = (id: string) => this.inFlight.get(id) ?? 0;

  constructor(opts: { epsilon: number }) {
    this.epsilon = opts.epsilon;
  }

  setEndpoints(list: readonly Endpoint[]): void {
    this.endpoints = new Map(list.map((e) => [e.id, e]));
    this.ring = new HashRing([...this.endpoints.keys()]);
  }

  get size(): number { return this.endpoints.size; }

  /** The endpoint for a request with `key` (undefined: least outstanding), other than those in `exclude`. */
  choose(key: string | undefined, exclude: ReadonlySet<string> = new Set()): Choice | undefined {
    if (key !== undefined) {
      const c = chooseBounded(this.ring, hash32(key), this.load, this.epsilon, exclude);
      return c && { endpoint: this.endpoints.get(c.id)!, result: c.result };
    }
    const ids = this.ring.ids.filter((id) => !exclude.has(id));
    const id = leastLoaded(ids, this.load, this.turn++);
    return id === undefined ? undefined : { endpoint: this.endpoints.get(id)!, result: 'none' };
  }

  acquire(id: string): void { this.inFlight.set(id, this.load(id) + 1); }

  release(id: string): void {
    const n = this.load(id) - 1;
    if (n > 0) this.inFlight.set(id, n); else this.inFlight.delete(id);
  }

  /** Requests in flight to `id` (also to an endpoint that has left, until they end). */
  inFlightTo(id: string): number { return this.load(id); }
}
