// Parsing and printing of the units a QwenService is written in and the operator reports in. The
// regexes are shared by the zod schema (and so by the CRD's OpenAPI patterns) and by the SLA
// compiler, so what the apiserver accepts is exactly what the compiler can read; every duration and
// percentage the operator prints goes through the formatters here, so one value reads alike in
// rules, alerts, `render --explain` and status.

/** A latency-like threshold: a number and one unit, e.g. `3s`, `800ms`, `1.5s`, `2m`. CEL's duration() reads these too. */
export const THRESHOLD_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$';
/** A Prometheus scrape interval: `15s`, `1m`, `500ms`. */
export const INTERVAL_PATTERN = '^[0-9]+(ms|s|m|h)$';
/** A percentage strictly between 0 and 100, e.g. `99.5%`, `0.1%`, `95%`. */
export const PERCENT_PATTERN = '^([1-9][0-9]?(\\.[0-9]+)?|0\\.[0-9]*[1-9][0-9]*)%$';
/** SLA windows the compiler supports (compliance periods of the SRE workbook). */
export const SLA_WINDOWS = ['7d', '14d', '28d', '30d'] as const;
export type SlaWindow = (typeof SLA_WINDOWS)[number];

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds in a duration such as `3s`, `800ms`, `30d`; throws on anything else. */
export function parseDuration(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (expected e.g. 3s, 800ms, 30d)`);
  // Round to microseconds so 0.1 + 0.2 style float noise never reaches a bucket boundary.
  return Math.round(Number(m[1]) * UNIT_SECONDS[m[2] as string]! * 1e6) / 1e6;
}

/** The ratio in a percentage such as `99.5%` (0.995); throws on anything else. */
export function parsePercent(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(text.trim());
  if (!m) throw new Error(`not a percentage: ${JSON.stringify(text)} (expected e.g. 99.5%)`);
  return Number(m[1]) / 100;
}

/** A duration in seconds written back the way Prometheus writes it (`1h`, `30m`, `5m`, `30d`). */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (seconds >= size && Number.isInteger(seconds / size)) return `${seconds / size}${unit}`;
  }
  return `${Math.round(seconds * 1000)}ms`;
}

/** 7m15s, 45m, 1h48m, 3d: a span of time in whole seconds, for people (explain output, alert text). */
export function formatSeconds(seconds: number): string {
  let rest = Math.round(seconds);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}

/**
 * A measured duration at two significant digits (840ms, 1.8s, 12s): what status shows. Coarse on
 * purpose, so a status is rewritten when the value moved, not when it jittered.
 */
export function formatMeasuredSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'n/a';
  if (seconds < 1) return `${Number((seconds * 1000).toPrecision(2))}ms`;
  return `${Number(seconds.toPrecision(2))}s`;
}

/**
 * A ratio as a percentage. By default as written (`99.5%`: the float noise of 1 - 0.995 removed);
 * `significant` rounds to that many significant digits (`1.44%`), `decimals` to a fixed number of
 * decimals with trailing zeros kept (`100.00%`, so a status line keeps its width).
 */
export function formatPercent(ratio: number, precision: { significant: number } | { decimals: number } = { significant: 10 }): string {
  if ('decimals' in precision) return `${(ratio * 100).toFixed(precision.decimals)}%`;
  return `${Number((ratio * 100).toPrecision(precision.significant))}%`;
}

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The value of a Kubernetes quantity (`8Gi`, `512Mi`, `1e9`, `1.5G`, or a number); throws on anything else. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([KMGTPE]i|[numkMGTPE])|[eE]([-+]?[0-9]+))?$/.exec(q.trim());
  if (!m) throw new Error(`not a quantity: ${JSON.stringify(q)} (expected e.g. 512Mi, 8Gi, 1e9)`);
  return Number(m[1]) * (m[3] !== undefined ? 10 ** Number(m[3]) : QUANTITY_SUFFIX[m[2] ?? '']!);
}

/** Bytes written as a quantity: in Mi or Gi when whole, else the plain number. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['Gi', 2 ** 30], ['Mi', 2 ** 20]] as const) {
    if (bytes >= size && Number.isInteger(bytes / size)) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
