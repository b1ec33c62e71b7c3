// A consistent-hash ring with virtual nodes: each endpoint owns VNODES points; a key belongs to the
// first point at or after its own hash. Adding or removing one of N endpoints moves only the keys
// of the arcs it gains or loses (about 1/N of them). Pure: no load, no I/O.
import { createHash } from 'node:crypto';

/** Points per endpoint: with 128 the share of one of N endpoints stays within about ±10% of 1/N. */
export const VNODES = 128;

/** A 32-bit position on the ring. */
export function hash32(text: string): number {
  return createHash('sha256').update(text, 'utf8').digest().readUInt32BE(0);
}

export class HashRing {
  /** Sorted positions, and the endpoint index owning each. */
  private readonly points: Uint32Array;
  private readonly owners: Uint32Array;
  readonly ids: readonly string[];

  constructor(ids: readonly string[], vnodes = VNODES) {
    this.ids = [...new Set(ids)].sort();
    const all: [number, number][] = [];
    this.ids.forEach((id, i) => { for (let v = 0; v < vnodes; v++) all.push([hash32(`${id}#${v}`), i]); });
    // Ties (two ids on the same point) broken by id order, so the ring depends on the set only.
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.points = Uint32Array.from(all, (p) => p[0]);
    this.owners = Uint32Array.from(all, (p) => p[1]);
  }

  get size(): number { return this.ids.length; }

  /** The endpoints in ring order from `position`, each once: the key's own first, then its successors. */
  *walk(position: number): Generator<string> {
    const n = this.points.length;
    if (n === 0) return;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < position) lo = mid + 1; else hi = mid;
    }
    const seen = new Uint8Array(this.ids.length);
    let left = this.ids.length;
    for (let k = 0; k < n && left > 0; k++) {
      const owner = this.owners[(lo + k) % n]!;
      if (seen[owner]) continue;
      seen[owner] = 1;
      left--;
      yield this.ids[owner]!;
    }
  }
}
