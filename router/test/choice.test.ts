// Bounded-load consistent hashing (choice.ts, hash-ring.ts), by property: the load bound holds after
// every assignment whatever the sequence of arrivals and departures; adding or removing one of N
// endpoints moves about 1/N of the keys, all of them to or from that endpoint.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Balancer, chooseBounded, leastLoaded, loadBound } from '../src/choice.ts';
import { hash32, HashRing } from '../src/hash-ring.ts';

const ids = fc.uniqueArray(fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.0.${a}.${b}:8080`), { minLength: 2, maxLength: 10 });
const owner = (ring: HashRing, key: string) => ring.walk(hash32(key)).next().value as string;
const KEYS = Array.from({ length: 2000 }, (_, i) => `conversation-${i}`);

describe('bounded-load choice', () => {
  it('no assignment takes an endpoint above ceil((1+ε)·(total+1)/n), for any sequence of arrivals and departures', () => {
    fc.assert(fc.property(
      ids, fc.constantFrom(0.1, 0.25, 1),
      fc.array(fc.oneof(fc.record({ arrive: fc.string({ maxLength: 6 }) }), fc.record({ leave: fc.nat() })), { minLength: 1, maxLength: 300 }),
      (endpoints, epsilon, ops) => {
        const ring = new HashRing(endpoints);
        const loads = new Map<string, number>();
        const load = (id: string) => loads.get(id) ?? 0;
        const inFlight: string[] = [];
        for (const op of ops) {
          if ('leave' in op) {
            if (inFlight.length === 0) continue;
            const [id] = inFlight.splice(op.leave % inFlight.length, 1);
            loads.set(id!, load(id!) - 1);
            continue;
          }
          const total = inFlight.length;
          const c = chooseBounded(ring, hash32(op.arrive), load, epsilon)!;
          loads.set(c.id, load(c.id) + 1);
          inFlight.push(c.id);
          expect(load(c.id)).toBeLessThanOrEqual(loadBound(total, endpoints.length, epsilon));
          // A hit is the key's own endpoint; a spill only when that one was full.
          const own = owner(ring, op.arrive);
          expect(c.result === 'hit').toBe(c.id === own);
        }
      },
    ), { numRuns: 200 });
  });

  it('with arrivals only, no endpoint ever holds more than ceil((1+ε)·m/n) of m requests', () => {
    fc.assert(fc.property(ids, fc.array(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 400 }), (endpoints, keys) => {
      const ring = new HashRing(endpoints);
      const loads = new Map<string, number>();
      keys.forEach((k, m) => {
        const c = chooseBounded(ring, hash32(k), (id) => loads.get(id) ?? 0, 0.25)!;
        loads.set(c.id, (loads.get(c.id) ?? 0) + 1);
        expect(Math.max(...loads.values())).toBeLessThanOrEqual(Math.ceil((1.25 * (m + 1)) / endpoints.length));
      });
    }), { numRuns: 100 });
  });

  it('adding one endpoint to N moves about 1/(N+1) of the keys, all to the new one', () => {
    fc.assert(fc.property(ids, fc.tuple(fc.nat(255), fc.nat(255)), (endpoints, [a, b]) => {
      const added = `10.1.${a}.${b}:8080`;
      const before = new HashRing(endpoints);
      const after = new HashRing([...endpoints, added]);
      const moved = KEYS.filter((k) => owner(before, k) !== owner(after, k));
      for (const k of moved) expect(owner(after, k)).toBe(added);
      const n = endpoints.length + 1;
      expect(moved.length).toBeLessThanOrEqual((2 / n) * KEYS.length);
      expect(moved.length).toBeGreaterThanOrEqual((0.4 / n) * KEYS.length);
    }), { numRuns: 30 });
  });

  it('removing one of N endpoints moves only its keys (about 1/N)', () => {
    fc.assert(fc.property(ids, fc.nat(), (endpoints, i) => {
      const removed = endpoints[i % endpoints.length]!;
      const before = new HashRing(endpoints);
      const after = new HashRing(endpoints.filter((e) => e !== removed));
      const moved = KEYS.filter((k) => owner(before, k) !== owner(after, k));
      for (const k of moved) expect(owner(before, k)).toBe(removed);
      expect(moved.length).toBe(KEYS.filter((k) => owner(before, k) === removed).length);
      const n = endpoints.length;
      expect(moved.length).toBeLessThanOrEqual((2 / n) * KEYS.length);
      expect(moved.length).toBeGreaterThanOrEqual((0.4 / n) * KEYS.length);
    }), { numRuns: 30 });
  });

  it('the ring depends on the set of endpoints, not their order', () => {
    fc.assert(fc.property(ids, (endpoints) => {
      const a = new HashRing(endpoints);
      const b = new HashRing([...endpoints].reverse());
      for (const k of KEYS.slice(0, 200)) expect(owner(a, k)).toBe(owner(b, k));
    }), { numRuns: 20 });
  });

  it('without a key: the least loaded endpoint, ties round-robin', () => {
    const load = (id: string) => ({ a: 1, b: 0, c: 0 })[id] ?? 0;
    expect(leastLoaded(['a', 'b', 'c'], load, 0)).toBe('b');
    expect(leastLoaded(['a', 'b', 'c'], load, 2)).toBe('c');
    const bal = new Balancer({ epsilon: 0.25 });
    bal.setEndpoints([{ id: 'x:1', url: 'http://x:1' }, { id: 'y:1', url: 'http://y:1' }]);
    const first = bal.choose(undefined)!;
    expect(first.result).toBe('none');
    bal.acquire(first.endpoint.id);
    expect(bal.choose(undefined)!.endpoint.id).not.toBe(first.endpoint.id);
    bal.release(first.endpoint.id);
    expect(bal.inFlightTo(first.endpoint.id)).toBe(0);
  });

  it('a retry never goes back to an excluded endpoint while another is there', () => {
    const bal = new Balancer({ epsilon: 0.25 });
    bal.setEndpoints([{ id: 'x:1', url: 'http://x:1' }, { id: 'y:1', url: 'http://y:1' }]);
    for (const key of KEYS.slice(0, 50)) {
      const own = bal.choose(key)!;
      expect(own.result).toBe('hit');
      const other = bal.choose(key, new Set([own.endpoint.id]))!;
      expect(other.endpoint.id).not.toBe(own.endpoint.id);
      expect(bal.choose(key, new Set(['x:1', 'y:1']))).toBeUndefined();
    }
  });
});
