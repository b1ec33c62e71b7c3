// A minimal Prometheus HTTP API client (instant queries only): the SLA status loop needs nothing
// more, and a dependency-free client keeps the operator image small. Every request has a hard
// timeout so a slow or hung Prometheus can only delay the SLA loop, never the reconciler.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type Sample = { metric: Record<string, string>; value: number };

/** Prometheus could not be reached or did not answer in time (network error, timeout, 5xx). */
export class PrometheusUnreachableError extends Error {}
/** Prometheus answered but refused the query (a bug in our PromQL, not an outage). */
export class PrometheusQueryError extends Error {}

export type PrometheusClientOptions = { timeoutMs?: number; headers?: Record<string, string> };

export class PrometheusClient {
  readonly baseURL: URL;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;

  constructor(baseURL: string, opts: PrometheusClientOptions = {}) {
    this.baseURL = new URL(baseURL.endsWith('/') ? baseURL : `${baseURL}/`);
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.headers = opts.headers ?? {};
  }

  /** Instant query; returns the samples of a vector result (a scalar becomes one sample). NaN samples are dropped. */
  async query(expr: string, time?: Date): Promise<Sample[]> {
    const body = new URLSearchParams({ query: expr, timeout: `${Math.max(1, Math.floor(this.timeoutMs / 1000))}s` });
    if (time) body.set('time', String(time.getTime() / 1000));
    const res = await this.post('api/v1/query', body.toString());
    const data = res as { status?: string; error?: string; data?: { resultType: string; result: unknown } };
    if (data.status !== 'success' || !data.data) throw new PrometheusQueryError(`query failed: ${data.error ?? 'unknown error'}: ${expr}`);
    const { resultType, result } = data.data;
    if (resultType === 'scalar') {
      const v = Number((result as [number, string])[1]);
      return Number.isNaN(v) ? [] : [{ metric: {}, value: v }];
    }
    if (resultType !== 'vector') throw new PrometheusQueryError(`expected a vector, got ${resultType}: ${expr}`);
    return (result as { metric: Record<string, string>; value: [number, string] }[])
      .map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
      .filter((s) => !Number.isNaN(s.value));
  }

  private post(path: string, form: string): Promise<unknown> {
    const url = new URL(path, this.baseURL);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: 'POST',
        headers: { ...this.headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form), accept: 'application/json' },
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new PrometheusUnreachableError(`${url.origin}: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try { parsed = JSON.parse(text); } catch { parsed = undefined; }
          // 400/422 carry a Prometheus error body: the query is wrong. Anything else non-2xx
          // (502 from a proxy, 503 while Prometheus starts) counts as "not reachable".
          if ((status === 400 || status === 422) && parsed) resolve(parsed);
          else if (status >= 200 && status < 300 && parsed) resolve(parsed);
          else reject(new PrometheusUnreachableError(`${url.origin}: HTTP ${status} ${text.slice(0, 200)}`));
        });
      });
      req.on('timeout', () => req.destroy(new PrometheusUnreachableError(`${url.origin}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', (e) => reject(e instanceof PrometheusUnreachableError ? e : new PrometheusUnreachableError(`${url.origin}: ${e.message}`)));
      req.end(form);
    });
  }
}
