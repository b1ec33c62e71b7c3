// The OpenAI API port: API keys, body limits, the affinity key, holding while no worker is ready,
// the worker's choice, one retry before the first byte, and the answer streamed through with
// backpressure. Each request is timed, counted and logged as its client saw it.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { affinityKey, type RouteKind } from './affinity-key.ts';
import { ApiError, clip, sendError } from './api-error.ts';
import type { ApiKeys } from './auth.ts';
import type { Balancer, AffinityResult } from './choice.ts';
import type { Affinity } from './config.ts';
import type { Endpoint } from './endpoints.ts';
import { FirstContentDetector } from './first-content.ts';
import type { HoldQueue } from './hold-queue.ts';
import type { LoadCounter } from './load.ts';
import { errorTypeOf, type ErrorType, type RetryReason, type RouterMetrics } from './metrics.ts';
import type { ReadyEndpoints } from './ready-endpoints.ts';
import { endToEndHeaders, sendUpstream, type Attempt, type UpstreamRequest } from './upstream.ts';
import { DEFAULT_TENANT } from './contract.ts';
import type { TenantPolicy, Ticket } from './tenants/policy.ts';
import { UsageReader, estimateRequest, type Usage } from './tenants/usage.ts';

/** Retry-After (seconds) of a 503 for a hold that timed out, and of a 429 for a full hold queue. */
export const RETRY_AFTER_UNAVAILABLE_S = 5;
export const RETRY_AFTER_FULL_S = 1;

export type ApiOptions = {
  host: string;
  port: number;
  balancer: Balancer;
  ready: ReadyEndpoints;
  hold: HoldQueue;
  load: LoadCounter;
  metrics: RouterMetrics;
  log: Logger;
  apiKeys: ApiKeys | undefined;
  affinity: Affinity;
  holdTimeoutS: number;
  maxBodyBytes: number;
  /** Tenants' limits, priorities and fair order (--tenants); absent: every request goes as it comes. */
  tenants?: TenantPolicy | undefined;
};

/** POST routes that are proxied with their body, and how their affinity key is read. */
const POST_ROUTES: Record<string, RouteKind> = { '/v1/chat/completions': 'chat', '/v1/completions': 'completion', '/v1/embeddings': 'other' };

/** One request from arrival to its last byte: what its log line and metrics need. */
type Exchange = {
  id: string;
  t0: number;
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  /** Counted in the SLI series (completions, embeddings). */
  observed: boolean;
  key: string | undefined;
  body: Buffer | undefined;
  ac: AbortController;
  status: number;
  errorType: ErrorType;
  endpoint?: Endpoint;
  affinity?: AffinityResult;
  retry?: RetryReason;
  heldMs: number;
  /** When the first content went to the client. */
  firstContentAt?: number;
  error?: string;
  /** The router itself cut the client's response: the worker broke off mid-answer, or the drain's grace ran out. */
  cut?: 'broken' | 'drain';
  /** Whose key it came with (DEFAULT_TENANT for the single-key form or an open API). */
  tenant: string;
  /** Admitted by the tenants' policy: finished (refunded) once the answer ends. */
  ticket?: Ticket;
  /** Refused by the tenants' policy: counted for its tenant, not in the SLI series. */
  refused?: string;
  /** A worker's answer went to the client: its usage, when it told one. */
  relayed?: boolean;
  usage?: Usage | undefined;
};

const RETRYABLE_STATUS: Record<number, RetryReason> = { 503: 'unavailable', 429: 'overloaded' };

function decodePath(url: string): string | undefined {
  try { return decodeURIComponent(url.split('?')[0]!); } catch { return undefined; }
}

/** Reads the body up to `limit` bytes; 413 past it, 499 when the client leaves first. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new ApiError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, { code: 'request_too_large' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        req.resume();
        throw new ApiError(413, `request body exceeds the limit of ${limit} bytes`, { code: 'request_too_large' });
      }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(499, 'client closed the request', { code: 'cancelled' });
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonBody(req: IncomingMessage, raw: Buffer): unknown {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') {
    throw new ApiError(415, `Content-Type must be application/json, got '${clip(ct) || 'none'}'`, { code: 'unsupported_media_type' });
  }
  let text: string;
  try { text = utf8.decode(raw); } catch { throw new ApiError(400, 'the request body is not valid UTF-8', { code: 'invalid_json' }); }
  try { return JSON.parse(text); } catch (e) {
    throw new ApiError(400, `malformed JSON body: ${clip((e as Error).message)}`, { code: 'invalid_json' });
  }
}

const cancelled = () => new ApiError(499, 'client closed the request', { code: 'cancelled' });
const shutDown = () => new ApiError(503, 'the router shut down before the request finished', { type: 'unavailable', code: 'unavailable' });
/** The error of a request whose signal fired: its client left, or the drain's grace ran out. */
const abortError = (signal: AbortSignal) => (signal.reason === 'drain' ? shutDown() : cancelled());

export class ApiServer {
  readonly server: http.Server;
  private readonly opts: ApiOptions;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });
  /** Requests being held or proxied: a drain waits for them. */
  private readonly active = new Set<Exchange>();
  private idleWaiters: (() => void)[] = [];
  private draining = false;

  constructor(opts: ApiOptions) {
    this.opts = opts;
    this.server = http.createServer({ requireHostHeader: false }, (req, res) => void this.route(req, res));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    const path = decodePath(req.url ?? '/');
    const { log } = this.opts;
    if (path === undefined) { req.resume(); return sendError(res, new ApiError(400, 'malformed percent-encoding in the request path', { code: 'invalid_path' })); }
    let tenant = DEFAULT_TENANT;
    if (path === '/v1' || path.startsWith('/v1/')) {
      const auth = this.opts.apiKeys?.check(req.headers.authorization);
      if (auth?.ok) tenant = this.opts.tenants?.tenantOf(auth.tenant) ?? auth.tenant;
      if (auth && !auth.ok) {
        req.resume();
        // Not a service error: never observed in the SLI series.
        log.info({ id, method: req.method, path: clip(path), status: 401, remote: req.socket.remoteAddress }, 'unauthorized request');
        return sendError(res, new ApiError(401, auth.message, { code: 'invalid_api_key' }), { 'www-authenticate': 'Bearer' });
      }
    }
    if (this.draining) {
      req.resume();
      return sendError(res, new ApiError(503, 'the router is shutting down', { code: 'unavailable' }), { connection: 'close', 'retry-after': '1' });
    }
    const kind = POST_ROUTES[path];
    const models = path === '/v1/models' || path.startsWith('/v1/models/');
    if (kind === undefined && !models) {
      req.resume();
      return sendError(res, new ApiError(404, `no route for ${req.method} ${clip(path)}`, { code: 'not_found' }));
    }
    const wanted = models ? 'GET' : 'POST';
    if (req.method !== wanted) {
      req.resume();
      return sendError(res, new ApiError(405, `${req.method} is not allowed on ${clip(path)}; use ${wanted}`), { allow: wanted });
    }
    const x: Exchange = {
      id, t0, req, res, path, observed: kind !== undefined, key: undefined, body: undefined, ac: new AbortController(),
      status: 200, errorType: '', heldMs: 0, tenant,
    };
    res.on('close', () => { if (!res.writableFinished && x.cut === undefined) x.ac.abort('cancelled'); });
    this.active.add(x);
    try {
      if (kind !== undefined) {
        x.body = await readBody(req, this.opts.maxBodyBytes);
        const json = parseJsonBody(req, x.body);
        x.key = this.opts.affinity === 'Prefix' ? affinityKey(kind, json) : undefined;
        if (this.opts.tenants && !this.admit(x, json)) return;
      }
      await this.forward(x);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, `internal error: ${(e as Error).message}`);
      if (!(e instanceof ApiError)) log.error({ id, err: e }, 'unhandled error');
      this.fail(x, x.ac.signal.aborted ? abortError(x.ac.signal) : err);
    } finally {
      if (x.ticket) this.opts.tenants!.finish(x.ticket, x.usage, x.relayed === true && x.errorType === '');
      if (x.relayed && x.observed) this.opts.metrics.usage(x.tenant, x.usage);
      this.active.delete(x);
      this.observe(x);
      if (this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private fail(x: Exchange, err: ApiError): void {
    x.status = err.status;
    x.errorType = errorTypeOf(err.status);
    x.error = clip(err.message, 300);
    const { res } = x;
    if (res.destroyed || res.writableEnded) return;
    if (res.headersSent) { res.destroy(); return; }
    const headers: Record<string, string> = {};
    if (err.status === 503) headers['retry-after'] = String(RETRY_AFTER_UNAVAILABLE_S);
    if (err.status === 429) headers['retry-after'] = String(RETRY_AFTER_FULL_S);
    if (this.draining) headers.connection = 'close';
    sendError(res, err, headers);
  }

  /**
   * The tenants' policy: admits the request (its x-ratelimit-* headers then go with the answer) or
   * answers 429 in OpenAI's shape with Retry-After; false when refused.
   */
  private admit(x: Exchange, json: unknown): boolean {
    const policy = this.opts.tenants!;
    const a = policy.admit(x.tenant, estimateRequest(json));
    if (a.ok) {
      x.ticket = a.ticket;
      for (const [k, v] of Object.entries(a.headers)) x.res.setHeader(k, v);
      return true;
    }
    x.refused = a.reason;
    x.status = 429;
    x.error = a.message;
    this.opts.metrics.refusal(a.tenant, a.reason);
    sendError(x.res, new ApiError(429, a.message, { type: a.type, code: 'rate_limit_exceeded' }), {
      ...a.headers, 'retry-after': String(a.retryAfterS), 'retry-after-ms': String(a.retryAfterS * 1000),
    });
    return false;
  }

  /** Waits for a ready worker (within the hold timeout from arrival), chooses one, sends, retries once. */
  private async forward(x: Exchange): Promise<void> {
    const { balancer, hold, metrics, ready } = this.opts;
    const signal = x.ac.signal;
    const deadline = x.t0 + this.opts.holdTimeoutS * 1000;
    if (x.ticket) {
      // The fair queue: at most the workers' slots are sent, the rest wait here in the tenants' order.
      const outcome = await this.opts.tenants!.dispatch(x.ticket, deadline - performance.now(), signal);
      if (outcome === 'aborted') throw abortError(signal);
      if (outcome === 'drain') throw shutDown();
      if (outcome === 'timeout') throw new ApiError(503, `no worker slot became free within ${this.opts.holdTimeoutS}s`, { type: 'unavailable', code: 'unavailable' });
    }
    const upstream: UpstreamRequest = {
      method: x.req.method!, path: x.req.url!, body: x.body,
      headers: { ...endToEndHeaders(x.req.headers), 'x-request-id': x.id },
    };
    const tried = new Set<string>();
    let retryCounted = false;
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      let choice = balancer.choose(x.key, tried);
      // After a retry, only endpoints already tried may be left (one came back): take them again.
      if (!choice && balancer.size > 0) choice = balancer.choose(x.key);
      if (!choice) {
        if (hold.full) throw new ApiError(429, `no worker is ready and ${hold.size} requests are already waiting for one`, { type: 'overloaded_error', code: 'too_many_held_requests' });
        const since = performance.now();
        const outcome = await hold.wait(deadline - since, signal);
        x.heldMs += performance.now() - since;
        if (outcome === 'ready') continue;
        if (outcome === 'aborted') throw abortError(signal);
        throw outcome === 'timeout'
          ? new ApiError(503, `no worker became ready within ${this.opts.holdTimeoutS}s`, { type: 'unavailable', code: 'unavailable' })
          : shutDown();
      }
      const ep = choice.endpoint;
      if (x.affinity === undefined) {
        x.affinity = choice.result;
        if (x.observed) metrics.affinity(choice.result);
      }
      x.endpoint = ep;
      // Counted when sent again (after a connect error with no other worker, it may be held first).
      if (x.retry !== undefined && tried.size > 0 && !retryCounted) { retryCounted = true; metrics.retry(x.retry); }
      balancer.acquire(ep.id);
      this.opts.load.add('inFlight', 1);
      try {
        const a = await sendUpstream(this.agent, ep, upstream, signal);
        if (!a.ok) {
          if (signal.aborted) throw abortError(signal);
          if (a.connect) {
            if (a.refused) ready.eject(ep, a.error.code ?? a.error.message);
            if (x.retry === undefined) { x.retry = 'connect'; tried.add(ep.id); continue; }
            throw new ApiError(503, `no worker accepted the connection (${ep.id}: ${a.error.code ?? a.error.message})`, { type: 'unavailable', code: 'unavailable' });
          }
          throw new ApiError(502, `the worker ${ep.id} failed before answering: ${a.error.code ?? a.error.message}`, { code: 'bad_gateway' });
        }
        const reason = RETRYABLE_STATUS[a.response.statusCode ?? 0];
        if (reason && x.retry === undefined && balancer.choose(x.key, new Set([...tried, ep.id]))) {
          // Nothing of it reached the client: drop it, the next worker answers instead.
          a.response.resume();
          x.retry = reason;
          tried.add(ep.id);
          continue;
        }
        await this.relay(x, a);
        return;
      } finally {
        balancer.release(ep.id);
        this.opts.load.add('inFlight', -1);
      }
    }
  }

  /** Streams the worker's answer through as it comes: the worker is paused while the client's socket is full. */
  private relay(x: Exchange, a: Extract<Attempt, { ok: true }>): Promise<void> {
    const { res } = x;
    const { response } = a;
    const status = response.statusCode ?? 502;
    x.status = status;
    const stream = String(response.headers['content-type'] ?? '').startsWith('text/event-stream');
    const detector = stream && status < 300 ? new FirstContentDetector() : undefined;
    const usage = status < 300 ? new UsageReader(stream) : undefined;
    x.relayed = true;
    res.writeHead(status, response.statusMessage, endToEndHeaders(response.headers));
    if (stream) res.flushHeaders();
    return new Promise<void>((resolve) => {
      response.on('data', (chunk: Buffer) => {
        if (x.firstContentAt === undefined && status < 300 && (!detector || detector.push(chunk))) x.firstContentAt = performance.now();
        usage?.push(chunk);
        if (!res.write(chunk)) {
          response.pause();
          res.once('drain', () => response.resume());
        }
      });
      response.on('end', () => res.end());
      response.on('error', () => { /* its 'close' below ends the client's response */ });
      response.on('close', () => {
        if (response.complete || res.destroyed) return;
        // The worker went away mid-answer, or the drain cut it: the client must see a cut, not a clean end.
        x.cut = x.ac.signal.reason === 'drain' ? 'drain' : 'broken';
        res.destroy();
      });
      res.once('close', () => {
        x.usage = usage?.result(x.ticket?.promptEstimate ?? 0);
        if (res.writableFinished) x.errorType = errorTypeOf(status);
        else if (x.cut === 'broken') { x.errorType = 'internal'; x.error = 'the worker closed the connection mid-answer'; }
        else if (x.cut === 'drain') { x.errorType = 'unavailable'; x.error = 'cut by the drain'; }
        else { x.status = 499; x.errorType = 'cancelled'; a.request.destroy(); }
        resolve();
      });
    });
  }

  private observe(x: Exchange): void {
    const { metrics, log } = this.opts;
    const end = performance.now();
    // A tenant's refusal is its own limit (or its priority giving way), not a service error: like a 401 it stays out of the SLI series.
    if (x.observed && x.refused === undefined) {
      metrics.requestDuration(x.errorType, (end - x.t0) / 1000, x.tenant);
      if (x.firstContentAt !== undefined) metrics.ttft((x.firstContentAt - x.t0) / 1000, x.tenant);
      if (x.affinity !== undefined || x.heldMs > 0) metrics.hold.observe(x.heldMs / 1000);
    }
    log.info({
      id: x.id, method: x.req.method, path: x.path, status: x.status, error_type: x.errorType, error: x.error, tenant: x.tenant, refused: x.refused,
      prompt_tokens: x.usage?.prompt, completion_tokens: x.usage?.completion,
      endpoint: x.endpoint?.id, affinity: x.affinity, retry: x.retry, held_ms: Math.round(x.heldMs),
      ttft_ms: x.firstContentAt === undefined ? undefined : Math.round(x.firstContentAt - x.t0), duration_ms: Math.round(end - x.t0),
    }, 'request');
  }

  /**
   * SIGTERM: no new connection, new requests on open ones get 503 (Connection: close); held and
   * in-flight requests get up to `graceS` to finish, then held ones get 503 and in-flight ones are cut.
   */
  async drain(graceS: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.active.size > 0) {
      let t: NodeJS.Timeout | undefined;
      const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
      const late = new Promise<boolean>((resolve) => { t = setTimeout(() => resolve(false), graceS * 1000); });
      const finished = await Promise.race([idle, late]);
      clearTimeout(t);
      if (!finished) {
        this.opts.log.warn({ active: this.active.size }, 'drain grace period over: held requests answered 503, in-flight ones cut');
        this.opts.hold.flush();
        this.opts.tenants?.drain();
        for (const x of this.active) x.ac.abort('drain');
        if (this.active.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
    }
    this.server.closeAllConnections();
    await closed;
    this.agent.destroy();
  }
}
