// The HTTP server: OpenAI-compatible routes, health, metrics, API keys, backpressure, timeouts
// (slow clients included), draining.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ApiError, clip } from './api-error.ts';
import type { ApiKeys } from './auth.ts';
import { CompletionResponse } from './completion-response.ts';
import { acquireSequence, checkPromptFits, checkRoomForCompletion, compileGrammars, generateCompletion, reusesPrefix, tokenizePrompt } from './completion.ts';
import type { ParsedRequest } from './completion.ts';
import { AbortedError } from './engine.ts';
import type { Engine, GenerateResult } from './engine.ts';
import type { ErrorType, WorkerMetrics } from './metrics.ts';
import { parseChatRequest, parseCompletionRequest } from './openai.ts';
import { sendJson } from './send-json.ts';
import { cacheOutcome } from './sequence-pool.ts';
import type { Assignment } from './sequence-pool.ts';

export type ServerOptions = {
  host: string;
  port: number;
  metricsPort: number | undefined;
  modelName: string;
  requestTimeoutS: number;
  drainTimeoutS: number;
  maxBodyBytes: number;
  metrics: WorkerMetrics;
  log: Logger;
  /** `--api-key-file`: when set, every /v1/* call needs one of its keys. */
  apiKeys?: ApiKeys | undefined;
  /** Request headers must arrive within this (default 30). */
  headersTimeoutS?: number;
  /** The whole request, body included, must arrive within this of its first byte (default 30). */
  bodyTimeoutS?: number;
  /** Idle keep-alive connections are closed after this (default 5). */
  keepAliveTimeoutS?: number;
  /** Request line + headers limit (default 16 KiB). */
  maxHeaderBytes?: number;
};

type State = 'loading' | 'ready' | 'draining' | 'stopped';

/** What one completion request's log line and metrics need, filled in as it gets there. */
type RequestRecord = {
  start: number;
  status: number;
  errorType: ErrorType;
  errorMessage?: string;
  stream: boolean;
  queueMs?: number;
  promptTokens?: number;
  /** The sequence the prompt ran on, and whether its state came from the host cache. */
  assignment?: Assignment;
  result?: GenerateResult;
};

function errorTypeFor(e: ApiError): ErrorType {
  if (e.status === 429) return 'overloaded';
  if (e.status === 504) return 'timeout';
  if (e.status === 503) return 'unavailable';
  if (e.status >= 500) return 'internal';
  return 'invalid_request';
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new ApiError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, { code: 'request_too_large' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw new ApiError(413, `request body exceeds the limit of ${limit} bytes`, { code: 'request_too_large' });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Path of a request target without its query; `undefined` when the percent-encoding is malformed. */
function decodePath(url: string): string | undefined {
  const path = url.split('?')[0]!;
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

export class WorkerServer {
  readonly opts: ServerOptions;
  readonly api: http.Server;
  readonly metricsServer: http.Server | undefined;
  state: State = 'loading';
  engine: Engine | undefined;
  private readonly inflight = new Set<AbortController>();
  /** Requests whose body is still arriving: a drain does not wait for them. */
  private readonly receiving = new Set<IncomingMessage>();
  /** Sockets closed by the server before their request arrived completely (timeout or drain). */
  private readonly cutSockets = new WeakMap<object, 'timeout' | 'drain'>();
  /** Sockets whose current request was answered before its body arrived (401, 413, 415...). */
  private readonly answeredEarly = new WeakSet<object>();
  private drainPromise: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: ServerOptions) {
    this.opts = opts;
    this.api = this.createServer(true);
    this.metricsServer = opts.metricsPort === undefined ? undefined : this.createServer(false);
  }

  /**
   * Slow and malformed clients are cut off by Node's HTTP server: headers within headersTimeout,
   * the whole request within requestTimeout (it ends when the request has been received: a long
   * streamed response is not affected), checked every connectionsCheckingInterval. Each parse
   * error or timeout gets a JSON error answer (clientError) and the connection is closed.
   */
  private createServer(isApi: boolean): http.Server {
    const headersMs = (this.opts.headersTimeoutS ?? 30) * 1000;
    const requestMs = Math.max(headersMs, (this.opts.bodyTimeoutS ?? 30) * 1000);
    const server = http.createServer({
      headersTimeout: headersMs,
      requestTimeout: requestMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, headersMs / 4)),
      keepAliveTimeout: (this.opts.keepAliveTimeoutS ?? 5) * 1000,
      maxHeaderSize: this.opts.maxHeaderBytes ?? 16384,
      // Checked in route(), to answer with a JSON body.
      requireHostHeader: false,
    }, (req, res) => void this.route(req, res, isApi));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket as Socket));
    server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
      sendJson(res, 417, new ApiError(417, 'only "Expect: 100-continue" is supported', { code: 'expectation_failed' }).body(), { connection: 'close' });
    });
    return server;
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse | null }): void {
    const code = err.code ?? '';
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') this.cutSockets.set(socket, 'timeout');
    // Nothing to answer on a connection the client reset, or one whose response already started.
    if (code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent || this.answeredEarly.has(socket)) {
      socket.destroy();
      return;
    }
    const [status, message, errCode] =
      code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request did not arrive completely in time', 'request_timeout']
        : code === 'HPE_HEADER_OVERFLOW' ? [431, `request headers exceed the limit of ${this.opts.maxHeaderBytes ?? 16384} bytes`, 'request_header_fields_too_large']
          : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? [413, 'chunk extensions too large', 'request_too_large']
            : [400, `malformed HTTP request (${code || err.message})`, 'bad_request'];
    this.opts.log[status === 408 ? 'info' : 'debug']({ status, code, remote: socket.remoteAddress }, 'client error; connection closed');
    const body = JSON.stringify(new ApiError(status, message, { code: errCode }).body());
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      () => socket.destroy());
    // A peer that does not read its answer is not waited for.
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async listen(): Promise<{ port: number; metricsPort: number | undefined }> {
    const listen = (s: http.Server, port: number) => new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, this.opts.host, () => resolve((s.address() as AddressInfo).port));
    });
    const port = await listen(this.api, this.opts.port);
    const metricsPort = this.metricsServer ? await listen(this.metricsServer, this.opts.metricsPort!) : undefined;
    return { port, metricsPort };
  }

  setReady(engine: Engine): void {
    this.engine = engine;
    this.state = 'ready';
    this.opts.metrics.ready.set(1);
  }

  private async route(req: IncomingMessage, res: ServerResponse, isApi: boolean): Promise<void> {
    const path = decodePath(req.url ?? '/');
    res.once('finish', () => {
      // Node reads and drops the rest of the body; a timeout then closes the connection silently.
      if (req.complete) return;
      const sock = req.socket;
      this.answeredEarly.add(sock);
      req.once('end', () => this.answeredEarly.delete(sock));
    });
    try {
      if (req.httpVersion === '1.1' && !req.headers.host) {
        return sendJson(res, 400, new ApiError(400, 'an HTTP/1.1 request needs a Host header', { code: 'bad_request' }).body(), { connection: 'close' });
      }
      if (path === undefined) {
        return sendJson(res, 400, new ApiError(400, 'malformed percent-encoding in the request path', { code: 'invalid_path' }).body());
      }
      if (isApi && this.opts.apiKeys && (path === '/v1' || path.startsWith('/v1/'))) {
        const auth = this.opts.apiKeys.check(req.headers.authorization);
        if (!auth.ok) {
          // Not a service error: never observed in the SLI histograms.
          this.opts.log.info({ method: req.method, path: clip(path), status: 401, remote: req.socket.remoteAddress }, 'unauthorized request');
          return sendJson(res, 401, new ApiError(401, auth.message, { code: 'invalid_api_key' }).body(), { 'www-authenticate': 'Bearer' });
        }
      }
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        const ok = this.state === 'ready';
        return sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : this.state });
      }
      if (path === '/metrics' && (!isApi || !this.metricsServer)) {
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, new ApiError(405, 'method not allowed').body(), { allow: 'GET' });
        const body = await this.opts.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.metrics.registry.contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      if (isApi && (path === '/v1/models' || path.startsWith('/v1/models/'))) {
        if (req.method !== 'GET') return sendJson(res, 405, new ApiError(405, 'method not allowed').body(), { allow: 'GET' });
        const card = { id: this.opts.modelName, object: 'model', created: 0, owned_by: 'qwen-operator' };
        if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: [card] });
        const id = path.slice('/v1/models/'.length);
        if (id === this.opts.modelName) return sendJson(res, 200, card);
        return sendJson(res, 404, new ApiError(404, `The model '${clip(id)}' does not exist`, { code: 'model_not_found', param: 'model' }).body());
      }
      if (isApi && (path === '/v1/chat/completions' || path === '/v1/completions')) {
        if (req.method !== 'POST') return sendJson(res, 405, new ApiError(405, `${req.method} is not allowed on ${path}; use POST`).body(), { allow: 'POST' });
        return await this.completion(req, res, path === '/v1/chat/completions' ? 'chat' : 'completion');
      }
      return sendJson(res, 404, new ApiError(404, `no route for ${req.method} ${clip(path)}`, { code: 'not_found' }).body());
    } catch (e) {
      this.opts.log.error({ err: e, path }, 'unhandled error');
      sendJson(res, 500, new ApiError(500, 'internal error').body());
    }
  }

  /** POST /v1/chat/completions and /v1/completions: one request from its body to its answer, timed and logged. */
  private async completion(req: IncomingMessage, res: ServerResponse, kind: 'chat' | 'completion'): Promise<void> {
    const record: RequestRecord = { start: performance.now(), status: 200, errorType: '', stream: false };
    const ac = new AbortController();
    // The abort reason says which error the request ends with: 'cancelled' | 'timeout' | 'drain'.
    const abort = (why: 'cancelled' | 'timeout' | 'drain') => { if (!ac.signal.aborted) ac.abort(why); };
    res.on('close', () => { if (!res.writableFinished) abort('cancelled'); });
    const timer = setTimeout(() => abort('timeout'), this.opts.requestTimeoutS * 1000);
    this.inflight.add(ac);
    try {
      const engine = this.readyEngine(req);
      const parsed = await this.readRequest(req, kind);
      record.stream = parsed.stream;
      this.checkServedModel(parsed);
      await this.runCompletion(engine, parsed, ac.signal, res, record);
    } catch (e) {
      const err = this.failure(e, ac.signal);
      record.status = err.status;
      record.errorMessage = clip(err.message, 300);
      record.errorType = err.status === 499 ? 'cancelled' : errorTypeFor(err);
      this.answerFailure(req, res, err);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
      this.observe(req, record);
      if (this.inflight.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private readyEngine(req: IncomingMessage): Engine {
    if (this.state !== 'ready' || !this.engine) {
      req.resume();
      throw new ApiError(503, this.state === 'loading' ? 'the model is still loading' : 'the server is shutting down', { code: 'unavailable' });
    }
    return this.engine;
  }

  /** The request body as JSON, checked against the endpoint's parameters. */
  private async readRequest(req: IncomingMessage, kind: 'chat' | 'completion'): Promise<ParsedRequest> {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== 'application/json') {
      req.resume();
      throw new ApiError(415, `Content-Type must be application/json, got '${clip(ct) || 'none'}'`, { code: 'unsupported_media_type' });
    }
    const ce = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (ce !== 'identity') {
      req.resume();
      throw new ApiError(415, `Content-Encoding '${clip(ce)}' is not supported; send the JSON body uncompressed`, { code: 'unsupported_media_type' });
    }
    const raw = await this.receive(req);
    let text: string;
    try { text = utf8.decode(raw); } catch {
      throw new ApiError(400, 'the request body is not valid UTF-8', { code: 'invalid_json' });
    }
    let body: unknown;
    try { body = JSON.parse(text); } catch (e) {
      throw new ApiError(400, `malformed JSON body: ${clip((e as Error).message)}`, { code: 'invalid_json' });
    }
    return kind === 'chat' ? parseChatRequest(body) : parseCompletionRequest(body);
  }

  private checkServedModel(parsed: ParsedRequest): void {
    if (parsed.model !== undefined && parsed.model !== this.opts.modelName) {
      throw new ApiError(404, `The model '${clip(parsed.model)}' does not exist; this server serves '${this.opts.modelName}'`, { code: 'model_not_found', param: 'model' });
    }
  }

  /** Admission, a sequence from the queue, generation and the answer; `record` collects what the log and metrics need. */
  private async runCompletion(engine: Engine, parsed: ParsedRequest, signal: AbortSignal, res: ServerResponse, record: RequestRecord): Promise<void> {
    const { metrics } = this.opts;
    checkPromptFits(engine, parsed);
    // The queue is checked before any grammar or tokenization work: a request refused with 429
    // costs neither, and one waiting for a sequence costs nothing until it gets it.
    const queued = performance.now();
    let seq = await acquireSequence(engine, signal);
    record.queueMs = performance.now() - queued;
    metrics.running.set(engine.running);
    try {
      const grammars = await compileGrammars(engine, parsed);
      const prompt = await tokenizePrompt(engine, parsed);
      record.promptTokens = prompt.tokens.length;
      checkRoomForCompletion(engine, parsed, prompt.tokens.length);
      // Prompt-prefix reuse: run on the free sequence that already holds most of this prompt, or
      // restore it from the host cache (sequence-pool.ts). Seeded sampling reuses nothing (engine.ts).
      record.assignment = await engine.assignSequence(seq, prompt.tokens, reusesPrefix(parsed));
      seq = record.assignment.sequence;
      const out = new CompletionResponse(res, {
        kind: parsed.kind, model: this.opts.modelName, stream: parsed.stream, includeUsage: parsed.includeUsage, logprobs: parsed.logprobs !== undefined,
      });
      record.result = await generateCompletion(engine, seq, parsed, prompt, grammars, signal, out);
      out.finish(record.result);
    } finally {
      engine.release(seq);
      metrics.running.set(engine.running);
    }
  }

  /** What a failed completion answers: its own ApiError, the abort's reason, or a 500. */
  private failure(e: unknown, signal: AbortSignal): ApiError {
    if (e instanceof ApiError) return e;
    if (e instanceof AbortedError || signal.aborted) {
      const abortReason: unknown = signal.reason;
      return abortReason === 'timeout'
        ? new ApiError(504, `request timed out after ${this.opts.requestTimeoutS}s`, { type: 'timeout_error', code: 'timeout' })
        : abortReason === 'drain'
          ? new ApiError(503, 'the server shut down before the request finished', { code: 'unavailable' })
          : new ApiError(499, 'client closed the request', { code: 'cancelled' });
    }
    this.opts.log.error({ err: e }, 'generation failed');
    return new ApiError(500, `internal error: ${(e as Error).message}`);
  }

  private answerFailure(req: IncomingMessage, res: ServerResponse, err: ApiError): void {
    const headers: Record<string, string> = err.status === 429 ? { 'retry-after': '1' } : {};
    if (this.state === 'draining') headers.connection = 'close';
    const sock = req.socket;
    if (sock.destroyed || sock.writableEnded) { /* cut off (timeout, drain, client gone): nothing to answer */ }
    else if (!res.headersSent) sendJson(res, err.status, err.body(), headers);
    else if (!res.writableEnded && !res.destroyed) {
      // Mid-stream failure (timeout): an error event, then close. The status line is already 200.
      res.end(`data: ${JSON.stringify(err.body())}\n\n`);
    }
  }

  /** The SLI histograms, token counters and the request's log line. */
  private observe(req: IncomingMessage, r: RequestRecord): void {
    const { metrics, log } = this.opts;
    const end = performance.now();
    const { start, result } = r;
    const completionTokens = result?.completionTokens ?? 0;
    const cachedTokens = result?.cachedTokens;
    metrics.requestDuration(r.errorType, (end - start) / 1000);
    if (result?.firstTokenAt !== undefined) {
      metrics.ttft.observe((result.firstTokenAt - start) / 1000);
      if (result.completionTokens > 1 && result.lastTokenAt !== undefined) {
        metrics.tpot.observe((result.lastTokenAt - result.firstTokenAt) / 1000 / (result.completionTokens - 1));
      }
    }
    if (r.promptTokens !== undefined && r.queueMs !== undefined) metrics.promptTokens.inc(r.promptTokens);
    if (cachedTokens) metrics.cachedTokens.inc(cachedTokens);
    if (result) metrics.promptCache(cacheOutcome(r.assignment, result.cachedTokens), result.cachedTokens);
    if (completionTokens > 0) metrics.generatedTokens.inc(completionTokens);
    if (result?.speculative) metrics.speculative(result.speculative.drafted, result.speculative.accepted);
    log.info({
      method: req.method, path: req.url, status: r.status, error_type: r.errorType, error: r.errorMessage, stream: r.stream,
      prompt_tokens: r.promptTokens, cached_tokens: cachedTokens, cache_restored: r.assignment?.restored, completion_tokens: completionTokens, finish_reason: result?.finishReason,
      ...(result?.speculative?.drafted ? { drafted_tokens: result.speculative.drafted, accepted_tokens: result.speculative.accepted } : {}),
      duration_ms: Math.round(end - start), queue_ms: r.queueMs === undefined ? undefined : Math.round(r.queueMs),
      ttft_ms: result?.firstTokenAt === undefined ? undefined : Math.round(result.firstTokenAt - start),
    }, 'request');
  }

  /**
   * Reads the body (up to --max-body-bytes). A body that does not arrive completely — the client
   * went away, --body-timeout cut it off, or a drain did — is the client's failure, never internal.
   */
  private async receive(req: IncomingMessage): Promise<Buffer> {
    this.receiving.add(req);
    try {
      return await readBody(req, this.opts.maxBodyBytes);
    } catch (e) {
      if (e instanceof ApiError) throw e;
      const cut = this.cutSockets.get(req.socket);
      if (cut === 'timeout') throw new ApiError(408, `the request body did not arrive completely within ${this.opts.bodyTimeoutS ?? 30}s`, { code: 'request_timeout' });
      if (cut === 'drain') throw new ApiError(408, 'the server shut down before the request body arrived completely', { code: 'request_timeout' });
      throw new ApiError(499, 'client closed the request', { code: 'cancelled' });
    } finally {
      this.receiving.delete(req);
    }
  }

  /** SIGTERM: readyz false, stop accepting, finish in-flight requests within the grace period. */
  drain(): Promise<void> {
    this.drainPromise ??= (async () => {
      const { log } = this.opts;
      this.state = 'draining';
      this.opts.metrics.ready.set(0);
      log.info({ inflight: this.inflight.size, graceS: this.opts.drainTimeoutS }, 'draining');
      // The listener stays open while in-flight requests finish: /readyz answers 503 (so the
      // endpoint is taken out of the Service) and new completions get 503 with Connection: close.
      this.api.closeIdleConnections();
      // A request still sending its body is not waited for (a slow or stalled client must not
      // hold the pod until the kubelet kills it): its connection is closed now. Connections with
      // half-sent headers never became requests and are closed with the listener below.
      for (const req of this.receiving) {
        this.cutSockets.set(req.socket, 'drain');
        req.socket.destroy();
      }
      if (this.inflight.size > 0) {
        let t: NodeJS.Timeout | undefined;
        const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
        const timeout = new Promise<boolean>((resolve) => { t = setTimeout(() => resolve(false), this.opts.drainTimeoutS * 1000); });
        const finished = await Promise.race([idle, timeout]);
        clearTimeout(t);
        if (!finished) {
          log.warn({ inflight: this.inflight.size }, 'drain grace period over: aborting in-flight requests');
          for (const ac of this.inflight) ac.abort('drain');
          await new Promise<void>((resolve) => { if (this.inflight.size === 0) resolve(); else this.idleWaiters.push(resolve); });
        }
      }
      const closed = new Promise<void>((resolve) => this.api.close(() => resolve()));
      this.api.closeAllConnections();
      await closed;
      if (this.metricsServer) {
        const m = this.metricsServer;
        await new Promise<void>((resolve) => { m.close(() => resolve()); m.closeAllConnections(); });
      }
      this.state = 'stopped';
      log.info('drained');
    })();
    return this.drainPromise;
  }
}
