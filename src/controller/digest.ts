// Large bodies (a PrometheusRule's spec is ~50 KB per QwenService, the dashboard ConfigMap's data
// ~15 KB) are kept in the watch cache as a digest only: 500 QwenServices would otherwise hold
// ~100 MB of rules in memory just to notice that nothing changed. Neither body gets server-side
// defaults, so the digest of what we render equals the digest of what the apiserver stores.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../render/common.ts';

/** Fields stored as digests, by kind. */
export const DIGESTED_FIELDS: Record<string, string[]> = { PrometheusRule: ['spec'], ConfigMap: ['data'] };
const DIGESTS = 'qwenops.io/digests';

/**
 * Feeds the canonical JSON of a value (keys sorted) to a hash in chunks. Building the whole string
 * level by level (a join per object and array) allocated the body once per level of nesting, on
 * every reconcile: the largest share of a converge's allocation.
 */
class CanonicalHash {
  private readonly hash = createHash('sha256');
  private pending = '';

  add(value: unknown): this {
    if (Array.isArray(value)) {
      this.write('[');
      value.forEach((v, i) => { if (i) this.write(','); this.add(v); });
      this.write(']');
    } else if (value !== null && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      this.write('{');
      Object.keys(o).sort().forEach((k, i) => { this.write(`${i ? ',' : ''}${JSON.stringify(k)}:`); this.add(o[k]); });
      this.write('}');
    } else {
      this.write(JSON.stringify(value) ?? 'null');
    }
    return this;
  }

  digest(): string {
    return this.hash.update(this.pending).digest('base64');
  }

  private write(text: string): void {
    this.pending += text;
    if (this.pending.length >= 16_384) {
      this.hash.update(this.pending);
      this.pending = '';
    }
  }
}

/**
 * Whether JSON.stringify writes the value exactly as the canonical form: every object's keys in
 * sorted order already and no undefined member. The apiserver's JSON is (Go writes map keys
 * sorted), so what the cache ingests is hashed in one native pass; what we render is not.
 */
function alreadyCanonical(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(alreadyCanonical);
  if (value === null || typeof value !== 'object') return true;
  let previous: string | undefined;
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    if ((previous !== undefined && !(previous < k)) || v === undefined || !alreadyCanonical(v)) return false;
    previous = k;
  }
  return true;
}

export function digestOf(value: unknown): string {
  if (alreadyCanonical(value)) return createHash('sha256').update(JSON.stringify(value) ?? 'null').digest('base64');
  return new CanonicalHash().add(value).digest();
}

/** Replaces the kind's large fields by their digests (for the cache). */
export function digestLargeFields(obj: KubeObject): KubeObject {
  const fields = DIGESTED_FIELDS[obj.kind];
  if (!fields) return obj;
  const digests: Record<string, string> = {};
  for (const f of fields) {
    digests[f] = digestOf(obj[f] ?? null);
    delete obj[f];
  }
  obj[DIGESTS] = digests;
  return obj;
}

/** Splits a desired object into what must match by digest and the rest (compared field by field). */
export function digestView(desired: KubeObject, cached: KubeObject): { rest: KubeObject; digestsMatch: boolean } {
  const digests = cached[DIGESTS] as Record<string, string> | undefined;
  const fields = DIGESTED_FIELDS[desired.kind];
  if (!digests || !fields) return { rest: desired, digestsMatch: true };
  const rest: KubeObject = { ...desired };
  let digestsMatch = true;
  for (const f of fields) {
    if (digestOf(desired[f] ?? null) !== digests[f]) digestsMatch = false;
    delete rest[f];
  }
  return { rest, digestsMatch };
}
