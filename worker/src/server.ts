// The HTTP server: OpenAI-compatible routes, health, metrics, backpressure, timeouts, draining.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Token } from 'node-llama-cpp';
import { AbortedError, OverloadedError } from './engine.ts';
import type { Engine, GenerateResult } from './engine.ts';
import type { ErrorType, WorkerMetrics } from './metrics.ts';
import { ApiError, parseChatRequest, parseCompletionRequest, usage } from './openai.ts';
import type { ChatRequest, CompletionRequest } from './openai.ts';

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
};

type State = 'loading' | 'ready' | 'draining' | 'stopped';

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return; }
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

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

export class WorkerServer {
  readonly opts: ServerOptions;
  readonly api: http.Server;
  readonly metricsServer: http.Server | undefined;
  state: State = 'loading';
  engine: Engine | undefined;
  private readonly inflight = new Set<AbortController>();
  private drainPromise: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: ServerOptions) {
    this.opts = opts;
    this.api = http.createServer({ keepAliveTimeout: 5000, requestTimeout: 0 }, (req, res) => void this.route(req, res, true));
    this.metricsServer = opts.metricsPort === undefined ? undefined
      : http.createServer((req, res) => void this.route(req, res, false));
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
    const path = (req.url ?? '/').split('?')[0]!;
    try {
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
        const id = decodeURIComponent(path.slice('/v1/models/'.length));
        if (id === this.opts.modelName) return sendJson(res, 200, card);
        return sendJson(res, 404, new ApiError(404, `The model '${id}' does not exist`, { code: 'model_not_found', param: 'model' }).body());
      }
      if (isApi && (path === '/v1/chat/completions' || path === '/v1/completions')) {
        if (req.method !== 'POST') return sendJson(res, 405, new ApiError(405, `${req.method} is not allowed on ${path}; use POST`).body(), { allow: 'POST' });
        return await this.completion(req, res, path === '/v1/chat/completions' ? 'chat' : 'completion');
      }
      return sendJson(res, 404, new ApiError(404, `no route for ${req.method} ${path}`, { code: 'not_found' }).body());
    } catch (e) {
      this.opts.log.error({ err: e, path }, 'unhandled error');
      sendJson(res, 500, new ApiError(500, 'internal error').body());
    }
  }

  private async completion(req: IncomingMessage, res: ServerResponse, kind: 'chat' | 'completion'): Promise<void> {
    const start = performance.now();
    const { metrics, log } = this.opts;
    const ac = new AbortController();
    // The abort reason says which error the request ends with: 'cancelled' | 'timeout' | 'drain'.
    const abort = (why: 'cancelled' | 'timeout' | 'drain') => { if (!ac.signal.aborted) ac.abort(why); };
    res.on('close', () => { if (!res.writableFinished) abort('cancelled'); });
    const timer = setTimeout(() => abort('timeout'), this.opts.requestTimeoutS * 1000);
    this.inflight.add(ac);
    let errorType: ErrorType = '';
    let status = 200;
    let result: GenerateResult | undefined;
    let queueMs: number | undefined;
    let stream = false;
    let promptTokens: number | undefined;
    let completionTokens = 0;
    try {
      if (this.state !== 'ready' || !this.engine) {
        req.resume();
        throw new ApiError(503, this.state === 'loading' ? 'the model is still loading' : 'the server is shutting down', { code: 'unavailable' });
      }
      const engine = this.engine;
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (ct !== 'application/json') {
        req.resume();
        throw new ApiError(415, `Content-Type must be application/json, got '${ct || 'none'}'`, { code: 'unsupported_media_type' });
      }
      const raw = await readBody(req, this.opts.maxBodyBytes);
      let body: unknown;
      try { body = JSON.parse(raw.toString('utf8')); } catch (e) {
        throw new ApiError(400, `malformed JSON body: ${(e as Error).message}`, { code: 'invalid_json' });
      }
      const parsed: ChatRequest | CompletionRequest = kind === 'chat' ? parseChatRequest(body) : parseCompletionRequest(body);
      stream = parsed.stream;
      if (parsed.model !== undefined && parsed.model !== this.opts.modelName) {
        throw new ApiError(404, `The model '${parsed.model}' does not exist; this server serves '${this.opts.modelName}'`, { code: 'model_not_found', param: 'model' });
      }
      let tokens: Token[];
      let stops = parsed.stop;
      if (parsed.kind === 'chat') {
        const t = engine.tokenizeChat(parsed.messages);
        tokens = t.tokens;
        stops = [...parsed.stop, ...t.stops];
      } else {
        if (Array.isArray(parsed.prompt)) {
          const vocab = engine.vocabularySize;
          const badTok = parsed.prompt.find((t) => t >= vocab);
          if (badTok !== undefined) throw new ApiError(400, `token id ${badTok} is out of the vocabulary (size ${vocab})`, { param: 'prompt', code: 'invalid_value' });
        }
        tokens = engine.tokenizeCompletion(parsed.prompt);
      }
      promptTokens = tokens.length;
      const ctx = engine.sequenceContextSize;
      if (tokens.length >= ctx) {
        throw new ApiError(400, `This model's maximum context length is ${ctx} tokens, but the prompt has ${tokens.length} tokens (at least 1 must remain for the completion)`,
          { param: kind === 'chat' ? 'messages' : 'prompt', code: 'context_length_exceeded' });
      }
      if (parsed.maxTokens !== undefined && tokens.length + parsed.maxTokens > ctx) {
        // OpenAI rejects this too; say exactly what does not fit.
        throw new ApiError(400, `This model's maximum context length is ${ctx} tokens; the prompt has ${tokens.length} tokens and ${parsed.maxTokens} were requested for the completion`,
          { param: 'max_tokens', code: 'context_length_exceeded' });
      }

      const queued = performance.now();
      let seq;
      try {
        seq = await engine.acquire(ac.signal);
      } catch (e) {
        if (e instanceof OverloadedError) throw new ApiError(429, 'The server is overloaded: all sequences are busy and the wait queue is full; retry later', { type: 'rate_limit_error', code: 'overloaded' });
        throw e;
      }
      queueMs = performance.now() - queued;
      metrics.running.set(engine.running);
      try {
        const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
        const created = Math.floor(Date.now() / 1000);
        const model = this.opts.modelName;
        if (parsed.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
          const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
          const send = (choices: unknown[], extra: Record<string, unknown> = {}) =>
            res.write(`data: ${JSON.stringify({ id, object, created, model, choices, ...extra, ...(parsed.includeUsage ? { usage: null } : {}) })}\n\n`);
          if (kind === 'chat') send([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
          result = await engine.generate(seq, {
            tokens, maxTokens: parsed.maxTokens, temperature: parsed.temperature, topP: parsed.topP, seed: parsed.seed,
            stop: stops, signal: ac.signal,
            onText: (text) => kind === 'chat'
              ? send([{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }])
              : send([{ index: 0, text, logprobs: null, finish_reason: null }]),
          });
          completionTokens = result.completionTokens;
          if (kind === 'chat') send([{ index: 0, delta: {}, logprobs: null, finish_reason: result.finishReason }]);
          else send([{ index: 0, text: '', logprobs: null, finish_reason: result.finishReason }]);
          if (parsed.includeUsage) {
            res.write(`data: ${JSON.stringify({ id, object, created, model, choices: [], usage: usage(result.promptTokens, result.completionTokens) })}\n\n`);
          }
          res.end('data: [DONE]\n\n');
        } else {
          result = await engine.generate(seq, {
            tokens, maxTokens: parsed.maxTokens, temperature: parsed.temperature, topP: parsed.topP, seed: parsed.seed,
            stop: stops, signal: ac.signal,
          });
          completionTokens = result.completionTokens;
          const u = usage(result.promptTokens, result.completionTokens);
          sendJson(res, 200, kind === 'chat'
            ? { id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: result.text, refusal: null }, logprobs: null, finish_reason: result.finishReason }], usage: u }
            : { id, object: 'text_completion', created, model, choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason }], usage: u });
        }
      } finally {
        engine.release(seq);
        metrics.running.set(engine.running);
      }
    } catch (e) {
      let err: ApiError;
      if (e instanceof ApiError) err = e;
      else if (e instanceof AbortedError || ac.signal.aborted) {
        const abortReason: unknown = ac.signal.reason;
        err = abortReason === 'timeout'
          ? new ApiError(504, `request timed out after ${this.opts.requestTimeoutS}s`, { type: 'timeout_error', code: 'timeout' })
          : abortReason === 'drain'
            ? new ApiError(503, 'the server shut down before the request finished', { code: 'unavailable' })
            : new ApiError(499, 'client closed the request', { code: 'cancelled' });
      } else {
        log.error({ err: e }, 'generation failed');
        err = new ApiError(500, `internal error: ${(e as Error).message}`);
      }
      status = err.status;
      errorType = status === 499 ? 'cancelled' : errorTypeFor(err);
      const headers: Record<string, string> = status === 429 ? { 'retry-after': '1' } : {};
      if (this.state === 'draining') headers.connection = 'close';
      if (!res.headersSent) sendJson(res, status, err.body(), headers);
      else if (!res.writableEnded && !res.destroyed) {
        // Mid-stream failure (timeout): an error event, then close. The status line is already 200.
        res.end(`data: ${JSON.stringify(err.body())}\n\n`);
      }
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
      const end = performance.now();
      metrics.requestDuration(errorType, (end - start) / 1000);
      if (result?.firstTokenAt !== undefined) {
        metrics.ttft.observe((result.firstTokenAt - start) / 1000);
        if (result.completionTokens > 1 && result.lastTokenAt !== undefined) {
          metrics.tpot.observe((result.lastTokenAt - result.firstTokenAt) / 1000 / (result.completionTokens - 1));
        }
      }
      if (promptTokens !== undefined && queueMs !== undefined) metrics.promptTokens.inc(promptTokens);
      if (completionTokens > 0) metrics.generatedTokens.inc(completionTokens);
      log.info({
        method: req.method, path: req.url, status, error_type: errorType, stream,
        prompt_tokens: promptTokens, completion_tokens: completionTokens, finish_reason: result?.finishReason,
        duration_ms: Math.round(end - start), queue_ms: queueMs === undefined ? undefined : Math.round(queueMs),
        ttft_ms: result?.firstTokenAt === undefined ? undefined : Math.round(result.firstTokenAt - start),
      }, 'request');
      if (this.inflight.size === 0) for (const w of this.idleWaiters.splice(0)) w();
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
