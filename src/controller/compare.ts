// Whether what the cache holds already carries every field we would apply. The apiserver adds
// defaults and other managers' fields, so "desired is contained in actual" is the test: when it
// holds, no request is sent at all (zero writes at rest).
export function containedIn(desired: unknown, actual: unknown): boolean {
  if (desired === actual) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && desired.length === actual.length && desired.every((d, i) => containedIn(d, actual[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const a = actual as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => containedIn(v, a[k]));
  }
  // The apiserver may write 1 where we sent "1" (int-or-string), or the reverse.
  return (typeof desired === 'number' || typeof desired === 'string') && String(desired) === String(actual);
}

/** Structural equality (key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  return containedIn(a, b) && containedIn(b, a);
}
