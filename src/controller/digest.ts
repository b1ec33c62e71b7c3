// Large bodies (a PrometheusRule's spec is ~50 KB per QwenService, the dashboard ConfigMap's data
// ~15 KB) are kept in the watch cache as a digest only: 500 QwenServices would otherwise hold
// ~100 MB of rules in memory just to notice that nothing changed. Neither body gets server-side
// defaults, so the digest of what we render equals the digest of what the apiserver stores.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../render/common.ts';

/** Fields stored as digests, by kind. */
export const DIGESTED_FIELDS: Record<string, string[]> = { PrometheusRule: ['spec'], ConfigMap: ['data'] };
const DIGESTS = 'qwenops.io/digests';

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('base64');
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
