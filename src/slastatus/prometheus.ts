// A minimal Prometheus HTTP API client (instant queries only): the SLA status loop needs nothing
// more, and a dependency-free client keeps the operator image small. Every request has a hard
// deadline over the whole exchange (connect, headers, body: an AbortSignal, not a socket idle
// timer, which a server dripping one byte a second would keep alive forever) and a cap on the
// answer's size; an answer that is not a Prometheus API response counts as unreachable. So a
// slow, hung, dripping or garbage-answering Prometheus costs the SLA loop at most the deadline
// per query, and never the reconciler.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type Sample = { metric: Record<string, string>; value: number };

/** Prometheus could not be reached or did not answer in time (network error, timeout, 5xx). */
export class PrometheusUnreachableError extends Error {}
/** Prometheus answered but refused the query (a bug in our PromQL, not an outage). */
export class PrometheusQueryError extends Error {}

export type PrometheusClientOptions = {
  /** Deadline of one query, answer included (ms). */
  timeoutMs?: number;
  /** Largest answer read (bytes); a longer one is cut off and counts as unreachable. */
  maxResponseBytes?: number;
  headers?: Record<string, string>;
};

/** Our queries return a handful of series; 4 MiB is thousands of them. */
export const DEFAULT_MAX_RESPONSE_BYTES = 4 << 20;

export class PrometheusClient {
  readonly baseURL: URL;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly headers: Record<string, string>;

  constructor(baseURL: string, opts: PrometheusClientOptions = {}) {
    this.baseURL = new URL(baseURL.endsWith('/') ? baseURL : `${baseURL}/`);
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.headers = opts.headers ?? {};
  }

  /** Instant query; returns the samples of a vector result (a scalar becomes one sample). NaN samples are dropped. */
  async query(expr: string, time?: Date): Promise<Sample[]> {
    const body = new URLSearchParams({ query: expr, timeout: `${Math.max(1, Math.floor(this.timeoutMs / 1000))}s` });
    if (time) body.set('time', String(time.getTime() / 1000));
    const res = await this.post('api/v1/query', body.toString());
    const garbage = (what: string) => new PrometheusUnreachableError(`${this.baseURL.origin}: not a Prometheus API answer (${what})`);
    if (!isRecord(res) || (res.status !== 'success' && res.status !== 'error')) throw garbage('no status');
    if (res.status === 'error') throw new PrometheusQueryError(`query failed: ${typeof res.error === 'string' ? res.error.slice(0, 500) : 'unknown error'}: ${expr}`);
    const data = res.data;
    if (!isRecord(data)) throw garbage('no data');
    const { resultType, result } = data;
    if (resultType === 'scalar') {
      if (!isSample(result)) throw garbage('malformed scalar');
      const v = Number(result[1]);
      return Number.isNaN(v) ? [] : [{ metric: {}, value: v }];
    }
    if (resultType !== 'vector') {
      if (typeof resultType === 'string' && ['matrix', 'string'].includes(resultType)) throw new PrometheusQueryError(`expected a vector, got ${resultType}: ${expr}`);
      throw garbage('unknown resultType');
    }
    if (!Array.isArray(result)) throw garbage('vector result is not a list');
    const samples: Sample[] = [];
    for (const r of result as unknown[]) {
      if (!isRecord(r) || !isRecord(r.metric) || !isSample(r.value)) throw garbage('malformed sample');
      const metric: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.metric)) if (typeof v === 'string') metric[k] = v;
      const value = Number(r.value[1]);
      if (!Number.isNaN(value)) samples.push({ metric, value });
    }
    return samples;
  }

  private post(path: string, form: string): Promise<unknown> {
    const url = new URL(path, this.baseURL);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const unreachable = (why: string) => new PrometheusUnreachableError(`${url.origin}: ${why}`);
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => { if (settled) return; settled = true; deadline.removeEventListener('abort', onDeadline); fn(); };
      const fail = (e: PrometheusUnreachableError) => finish(() => { reject(e); req.destroy(); });
      // The one clock for the whole exchange: it fires whatever the server does or does not send.
      const deadline = AbortSignal.timeout(this.timeoutMs);
      const onDeadline = () => fail(unreachable(`no complete answer within ${this.timeoutMs} ms`));
      deadline.addEventListener('abort', onDeadline, { once: true });
      const req = send(url, {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form), accept: 'application/json' },
      }, (res) => {
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxResponseBytes) return fail(unreachable(`answer of ${declared} bytes exceeds the ${this.maxResponseBytes}-byte cap`));
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxResponseBytes) return fail(unreachable(`answer exceeds the ${this.maxResponseBytes}-byte cap`));
          chunks.push(c);
        });
        res.on('error', (e) => fail(unreachable(e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try { parsed = JSON.parse(text); } catch { parsed = undefined; }
          // 400/422 carry a Prometheus error body: the query is wrong. Anything else non-2xx
          // (502 from a proxy, 503 while Prometheus starts) counts as "not reachable".
          if ((status === 400 || status === 422) && isRecord(parsed) && parsed.status === 'error') finish(() => resolve(parsed));
          else if (status >= 200 && status < 300 && parsed !== undefined) finish(() => resolve(parsed));
          else fail(unreachable(`HTTP ${status} ${text.slice(0, 200).replace(/\s+/g, ' ')}`));
        });
      });
      req.on('error', (e) => fail(unreachable(e.message)));
      req.end(form);
    });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A Prometheus sample: [unix time, "value"]. */
function isSample(v: unknown): v is [number, string] {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string';
}
