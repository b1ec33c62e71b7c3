// The `le` label of a bucket boundary as the tools may have written it. prom-client writes the
// JavaScript spelling (`3`, `0.8`, `1e-7`); Prometheus 3 rewrites classic-histogram `le` values
// at ingestion in Go's shortest 'g' form with a `.0` added to integers (`3.0`, `1e-05`);
// Prometheus 2 keeps what it scraped. PromQL regexes are fully anchored, so the matcher lists
// every spelling instead of relying on a prefix.

/** Go's strconv.FormatFloat(x, 'g', -1, 64): %e below 1e-4 and from 1e6 on (`1e+06`), else %f. */
export function goFormatFloat(x: number): string {
  const [mantissa, exp] = x.toExponential().split('e') as [string, string];
  const e = Number(exp);
  if (e < -4 || e >= 6) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return String(x);
}

/** Every spelling of `seconds` as an `le` value. */
export function leSpellings(seconds: number): string[] {
  const out = new Set<string>();
  for (const s of [String(seconds), goFormatFloat(seconds)]) {
    out.add(s);
    if (!/[.e]/.test(s)) out.add(`${s}.0`);
  }
  return [...out];
}

/** A RE2 regex (as PromQL matcher value, before string escaping) matching every spelling. */
export function leRegex(seconds: number): string {
  return leSpellings(seconds).map((s) => s.replace(/[.+]/g, (c) => `\\${c}`)).join('|');
}
