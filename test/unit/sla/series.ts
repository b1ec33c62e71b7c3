// Synthetic worker series for promtool rule tests: a traffic profile (requests per minute by
// duration, TTFT, time per output token and error type) becomes the counters a real worker
// would expose, scraped every 15s, with restarts (counter resets), targets going down and series
// vanishing. Written in promtool's expanding notation so an 8-hour scenario stays small.

export const SCRAPE_SECONDS = 15;
const PER_MINUTE = 60 / SCRAPE_SECONDS;

/** [value, requests per minute] pairs: e.g. [[0.4, 57], [4, 3]] = 57 req/min at 0.4s, 3 at 4s. */
export type Dist = [number, number][];

export type Traffic = {
  /** Successful requests by end-to-end duration (seconds). */
  latency?: Dist;
  /** TTFT (seconds) of the successful requests; defaults to all at 0.2s. */
  ttft?: Dist;
  /** Time per output token (seconds) of the successful requests; defaults to all at 0.02s. */
  tpot?: Dist;
  /** Failed requests per minute by error_type (they fail fast: 0.1s). */
  errors?: Record<string, number>;
};

export type Profile = {
  namespace: string;
  service: string;
  minutes: number;
  pods?: number;
  /** Traffic of the whole service in minute m (split evenly over the pods that are up). */
  traffic: (m: number) => Traffic;
  /** Whether pod p's target is up in minute m (default: always). */
  up?: (m: number, pod: number) => boolean;
  /** Minutes at which every pod restarts (its counters start again from 0). */
  restarts?: number[];
  /** Minute from which the service's series are gone (pods deleted: stale, then nothing). */
  vanishAt?: number;
  /** Minutes [from, to) in which Prometheus took no sample of anything (it restarted); the workers kept counting. */
  gap?: [number, number];
  /** How `le` is written: Prometheus 2 keeps the exposition's `3`, Prometheus 3 writes `3.0`. */
  leStyle?: 'exposition' | 'prometheus3';
};

export const DURATION_BUCKETS = [0.5, 1, 2, 2.56, 3, 5, 5.12, 10, 20];
export const TTFT_BUCKETS = [0.25, 0.5, 0.8, 1, 2.5];
export const TPOT_BUCKETS = [0.025, 0.05, 0.1];
const ERROR_TYPES = ['', 'internal', 'invalid_request', 'cancelled'];

type Value = number | '_' | 'stale';
export type InputSeries = { series: string; values: string };

function leText(le: number, style: Profile['leStyle']): string {
  if (!Number.isFinite(le)) return '+Inf';
  const s = String(le);
  return style === 'prometheus3' && !s.includes('.') ? `${s}.0` : s;
}

const atOrBelow = (d: Dist | undefined, le: number) => (d ?? []).reduce((n, [v, c]) => n + (v <= le ? c : 0), 0);
const total = (d: Dist | undefined) => (d ?? []).reduce((n, [, c]) => n + c, 0);

export function inputSeries(p: Profile): InputSeries[] {
  const pods = p.pods ?? 1;
  const out: InputSeries[] = [];
  const upAt = (m: number, pod: number) => (p.up ? p.up(m, pod) : true);
  const podsUp = (m: number) => Math.max(1, [...Array(pods).keys()].filter((q) => upAt(m, q)).length);
  for (let pod = 0; pod < pods; pod++) {
    const target = { namespace: p.namespace, service: p.service, pod: `${p.service}-${pod}`, job: p.service, instance: `10.0.0.${pod + 1}:8080` };
    const name = (metric: string, extra: Record<string, string>) => `${metric}{${Object.entries({ ...target, ...extra }).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    const counter = (metric: string, extra: Record<string, string>, rate: (t: Traffic) => number) =>
      out.push({ series: name(metric, extra), values: compress(counterValues(p, pod, (m) => rate(p.traffic(m)) / podsUp(m))) });
    for (const et of ERROR_TYPES) {
      const labels = { model: 'qwen', error_type: et };
      // Failed requests fail fast (0.1s).
      const dist = (t: Traffic): Dist => (et === '' ? t.latency ?? [] : [[0.1, t.errors?.[et] ?? 0]]);
      for (const le of [...DURATION_BUCKETS, Infinity]) {
        counter('gen_ai_server_request_duration_seconds_bucket', { ...labels, le: leText(le, p.leStyle) }, (t) => atOrBelow(dist(t), le));
      }
      counter('gen_ai_server_request_duration_seconds_count', labels, (t) => total(dist(t)));
    }
    for (const [metric, buckets, key, dflt] of [
      ['gen_ai_server_time_to_first_token_seconds', TTFT_BUCKETS, 'ttft', 0.2],
      ['gen_ai_server_time_per_output_token_seconds', TPOT_BUCKETS, 'tpot', 0.02],
    ] as const) {
      const dist = (t: Traffic): Dist => t[key] ?? [[dflt, total(t.latency)]];
      for (const le of [...buckets, Infinity]) counter(`${metric}_bucket`, { model: 'qwen', le: leText(le, p.leStyle) }, (t) => atOrBelow(dist(t), le));
      counter(`${metric}_count`, { model: 'qwen' }, (t) => total(dist(t)));
    }
    out.push({ series: name('up', {}), values: compress(gaugeValues(p, pod)) });
  }
  return out;
}

function counterValues(p: Profile, pod: number, perMinute: (m: number) => number): Value[] {
  const samples = p.minutes * PER_MINUTE;
  const values: Value[] = [];
  let c = 0, gone = false;
  for (let i = 0; i <= samples; i++) {
    const m = Math.floor(i / PER_MINUTE);
    if (p.vanishAt !== undefined && m >= p.vanishAt) {
      if (!gone) values.push('stale');
      gone = true;
      break;
    }
    const up = p.up ? p.up(m, pod) : true;
    if (i > 0) c += perMinute(Math.floor((i - 1) / PER_MINUTE)) / PER_MINUTE;
    if (p.restarts?.includes(m) && i === m * PER_MINUTE) c = 0;
    if (!up) {
      values.push(values.length && values[values.length - 1] !== '_' && values[values.length - 1] !== 'stale' ? 'stale' : '_');
      continue;
    }
    values.push(inGap(p, m) ? '_' : round(c));
  }
  return values;
}

function gaugeValues(p: Profile, pod: number): Value[] {
  const values: Value[] = [];
  for (let i = 0; i <= p.minutes * PER_MINUTE; i++) {
    const m = Math.floor(i / PER_MINUTE);
    if (p.vanishAt !== undefined && m >= p.vanishAt) {
      values.push('stale');
      break;
    }
    values.push(inGap(p, m) ? '_' : (p.up ? p.up(m, pod) : true) ? 1 : 0);
  }
  return values;
}

const inGap = (p: Profile, m: number) => p.gap !== undefined && m >= p.gap[0] && m < p.gap[1];

const round = (x: number) => Math.round(x * 1e6) / 1e6;

function expand(start: number, step: number, times: number): number {
  let k = start;
  for (let t = 0; t < times; t++) k += step;
  return k;
}

/** promtool's expanding notation: runs with a constant step become `a+bxn`, gaps `_xn`. */
export function compress(input: Value[]): string {
  const values = [...input];
  const parts: string[] = [];
  let i = 0;
  while (i < values.length) {
    const v = values[i]!;
    if (v === 'stale') { parts.push('stale'); i++; continue; }
    if (v === '_') {
      let j = i;
      while (j < values.length && values[j] === '_') j++;
      parts.push(j - i === 1 ? '_' : `_x${j - i}`);
      i = j;
      continue;
    }
    let j = i + 1;
    const next = values[j];
    if (typeof next !== 'number') { parts.push(String(v)); i++; continue; }
    const step = round(next - v);
    while (j + 1 < values.length && typeof values[j + 1] === 'number' && round((values[j + 1] as number) - (values[j] as number)) === step) j++;
    const n = j - i;
    parts.push(step === 0 ? `${v}x${n}` : `${v}${step < 0 ? '-' : '+'}${Math.abs(step)}x${n}`);
    // promtool expands `a+bxn` by adding b n times, so its last value drifts from ours by a few ulps;
    // a next value that starts a hair below that drift would read as a counter reset to rate().
    const expandedEnd = expand(v, step, n);
    const after = values[j + 1];
    if (typeof after === 'number' && after < expandedEnd && expandedEnd - after < 1e-6) values[j + 1] = expandedEnd;
    i = j + 1;
  }
  return parts.join(' ');
}
