// The HTTP server: OpenAI-compatible routes, health, metrics, API keys, backpressure, timeouts
// (slow clients included), draining.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { LlamaGrammar, Token } from 'node-llama-cpp';
import type { ApiKeys } from './auth.ts';
import { AbortedError, OverloadedError } from './engine.ts';
import type { Engine, GeneratedToolCall, GenerateResult, TokenLogprob } from './engine.ts';
import type { ErrorType, WorkerMetrics } from './metrics.ts';
import { ApiError, clip, parseChatRequest, parseCompletionRequest, usage } from './openai.ts';
import { ReasoningSplitter, splitReasoning } from './reasoning.ts';
import type { ChatRequest, CompletionRequest, ToolDef } from './openai.ts';
import type { GbnfSchema } from './schema.ts';

/**
 * The grammar a forced tool call (tool_choice required or named) is generated under: the named
 * function's arguments, or, with several candidates, {"name": ..., "arguments": ...} for one of them.
 */
function forcedToolSchema(tools: ToolDef[], choice: 'required' | { name: string }): { schema: GbnfSchema; wrapped: boolean } {
  const args = (t: ToolDef): GbnfSchema => t.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
  const candidates = choice === 'required' ? tools : tools.filter((t) => t.name === choice.name);
  if (candidates.length === 1) return { schema: args(candidates[0]!), wrapped: false };
  return {
    schema: { oneOf: candidates.map((t) => ({ type: 'object', properties: { name: { const: t.name }, arguments: args(t) }, required: ['name', 'arguments'], additionalProperties: false })) },
    wrapped: true,
  };
}

const utf8Bytes = (s: string) => [...Buffer.from(s, 'utf8')];

/** Chat completions' `logprobs` object. */
const chatLogprobs = (lps: TokenLogprob[]) => ({
  content: lps.map((e) => ({
    token: e.token, logprob: e.logprob, bytes: utf8Bytes(e.token),
    top_logprobs: e.top.map(([token, logprob]) => ({ token, logprob, bytes: utf8Bytes(token) })),
  })),
  refusal: null,
});

/** Legacy completions' `logprobs` object; `offset` is the text offset of the first token. */
const completionLogprobs = (lps: TokenLogprob[], offset = 0) => {
  const text_offset: number[] = [];
  for (const e of lps) { text_offset.push(offset); offset += e.token.length; }
  return {
    tokens: lps.map((e) => e.token), token_logprobs: lps.map((e) => e.logprob),
    top_logprobs: lps.map((e) => Object.fromEntries(e.top)), text_offset,
  };
};

const toolCallId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;

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
    let cachedTokens: number | undefined;
    let errorMessage: string | undefined;
    try {
      if (this.state !== 'ready' || !this.engine) {
        req.resume();
        throw new ApiError(503, this.state === 'loading' ? 'the model is still loading' : 'the server is shutting down', { code: 'unavailable' });
      }
      const engine = this.engine;
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
      const parsed: ChatRequest | CompletionRequest = kind === 'chat' ? parseChatRequest(body) : parseCompletionRequest(body);
      stream = parsed.stream;
      if (parsed.model !== undefined && parsed.model !== this.opts.modelName) {
        throw new ApiError(404, `The model '${clip(parsed.model)}' does not exist; this server serves '${this.opts.modelName}'`, { code: 'model_not_found', param: 'model' });
      }
      const ctx = engine.sequenceContextSize;
      const promptParam = kind === 'chat' ? 'messages' : 'prompt';
      if (parsed.kind === 'completion' && Array.isArray(parsed.prompt)) {
        const vocab = engine.vocabularySize;
        const badTok = parsed.prompt.find((t) => t >= vocab);
        if (badTok !== undefined) throw new ApiError(400, `token id ${badTok} is out of the vocabulary (size ${vocab})`, { param: 'prompt', code: 'invalid_value' });
      }
      // A prompt that cannot fit is refused before any tokenization: the event loop never spends
      // more than tokenizing about one context's worth of text on a request.
      const texts = parsed.kind === 'chat' ? [...parsed.messages.map((m) => m.content.trim()), ...(parsed.toolChoice === 'none' ? [] : parsed.tools.map((t) => JSON.stringify(t)))]
        : typeof parsed.prompt === 'string' ? [parsed.prompt] : [];
      const atLeast = parsed.kind === 'completion' && Array.isArray(parsed.prompt) ? parsed.prompt.length : engine.minTokens(texts);
      if (atLeast >= ctx) {
        throw new ApiError(400, `This model's maximum context length is ${ctx} tokens, but the prompt has at least ${atLeast} tokens (at least 1 must remain for the completion)`,
          { param: promptParam, code: 'context_length_exceeded' });
      }

      // Grammars are compiled before a sequence is taken: a schema the library refuses is the
      // client's error (400), and compiling holds no sequence.
      let grammar: LlamaGrammar | undefined;
      let forced: { wrapped: boolean; name: string | undefined } | undefined;
      if (parsed.kind === 'chat') {
        const compile = async (schema: GbnfSchema | 'any', param: string) => {
          try { return await engine.jsonGrammar(schema); } catch (e) {
            throw new ApiError(400, `the schema cannot be turned into a grammar: ${clip((e as Error).message, 200)}`, { param, code: 'unsupported_schema' });
          }
        };
        const rf = parsed.responseFormat;
        if (rf.type === 'json_object') grammar = await compile('any', 'response_format');
        else if (rf.type === 'json_schema') grammar = await compile(rf.schema, 'response_format.json_schema.schema');
        const tc = parsed.toolChoice;
        if (tc === 'auto') {
          // LlamaChat compiles these itself: a schema it would refuse must be a 400 here, not a 500 there.
          for (const [i, t] of parsed.tools.entries()) if (t.parameters) await compile(t.parameters, `tools[${i}].function.parameters`);
        }
        if (tc === 'required' || typeof tc === 'object') {
          const f = forcedToolSchema(parsed.tools, tc);
          grammar = await compile(f.schema, 'tools');
          forced = { wrapped: f.wrapped, name: f.wrapped ? undefined : (typeof tc === 'object' ? tc.name : parsed.tools[0]!.name) };
        }
      }

      // The queue is checked before tokenizing: a request refused with 429 costs no tokenization,
      // and one waiting for a sequence costs nothing until it gets it.
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
        let tokens: Token[];
        let stops = parsed.stop;
        try {
          if (parsed.kind === 'chat') {
            const t = engine.tokenizeChat(parsed.messages, parsed.toolChoice === 'none' ? [] : parsed.tools);
            tokens = t.tokens;
            stops = [...parsed.stop, ...t.stops];
          } else {
            tokens = engine.tokenizeCompletion(parsed.prompt);
          }
        } catch (e) {
          // The input is validated text: what the tokenizer or the chat template refuses is the prompt's doing.
          throw new ApiError(400, `cannot tokenize the prompt: ${clip((e as Error).message)}`, { param: promptParam, code: 'invalid_prompt' });
        }
        promptTokens = tokens.length;
        if (tokens.length >= ctx) {
          throw new ApiError(400, `This model's maximum context length is ${ctx} tokens, but the prompt has ${tokens.length} tokens (at least 1 must remain for the completion)`,
            { param: promptParam, code: 'context_length_exceeded' });
        }
        if (parsed.maxTokens !== undefined && tokens.length + parsed.maxTokens > ctx) {
          // OpenAI rejects this too; say exactly what does not fit.
          throw new ApiError(400, `This model's maximum context length is ${ctx} tokens; the prompt has ${tokens.length} tokens and ${parsed.maxTokens} were requested for the completion`,
            { param: 'max_tokens', code: 'context_length_exceeded' });
        }
        // Prompt-prefix reuse: run on the free sequence that already holds most of this prompt.
        seq = engine.preferSequence(seq, tokens);
        const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
        const created = Math.floor(Date.now() / 1000);
        const model = this.opts.modelName;
        const object = parsed.stream ? (kind === 'chat' ? 'chat.completion.chunk' : 'text_completion') : '';
        const send = (choices: unknown[]) =>
          res.write(`data: ${JSON.stringify({ id, object, created, model, choices, ...(parsed.includeUsage ? { usage: null } : {}) })}\n\n`);
        // Streamed log-probabilities ride on the next chunk sent after their tokens.
        const wantLp = parsed.logprobs !== undefined;
        const pendingLp: TokenLogprob[] = [];
        let lpOffset = 0;
        const delta = (d: Record<string, unknown>) => send([{ index: 0, delta: d, logprobs: wantLp ? chatLogprobs(pendingLp.splice(0)) : null, finish_reason: null }]);
        const ids: string[] = [];
        const base = { maxTokens: parsed.maxTokens, temperature: parsed.temperature, topP: parsed.topP, seed: parsed.seed, stop: stops, signal: ac.signal, penalties: parsed.penalties, logprobs: parsed.logprobs,
          reusePrefix: !(parsed.seed !== undefined && parsed.temperature > 0) };
        if (parsed.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
          if (kind === 'chat') delta({ role: 'assistant', content: '' });
        }
        // Plain chat text may carry a reasoning model's thought: it goes to reasoning_content.
        const thoughts = parsed.kind === 'chat' && !forced && !grammar && parsed.toolChoice !== 'auto' ? engine.thoughtMarkers(tokens) : undefined;
        const splitter = parsed.stream && thoughts
          ? new ReasoningSplitter({ reasoning: (t) => delta({ reasoning_content: t }), content: (t) => delta({ content: t }) }, thoughts) : undefined;
        const onTextOnly = !parsed.stream ? undefined
          : kind === 'completion' ? (text: string) => {
            const lps = pendingLp.splice(0);
            send([{ index: 0, text, logprobs: wantLp ? completionLogprobs(lps, lpOffset) : null, finish_reason: null }]);
            for (const e of lps) lpOffset += e.token.length;
          }
            // A named forced call streams its arguments as OpenAI does; a choice among several is sent whole at the end.
            : forced ? (forced.wrapped ? undefined : (text: string) => delta({ tool_calls: [{ index: 0, function: { arguments: text } }] }))
              : splitter ? (text: string) => splitter.push(text)
                : (text: string) => delta({ content: text });
        const onText = onTextOnly && ((text: string, lps?: TokenLogprob[]) => { if (lps) pendingLp.push(...lps); onTextOnly(text); });
        if (parsed.kind === 'chat' && parsed.toolChoice === 'auto') {
          result = await engine.chatWithTools(seq, {
            ...base, tokens, messages: parsed.messages, tools: parsed.tools, parallelToolCalls: parsed.parallelToolCalls,
            ...(onText ? { onText } : {}),
            ...(parsed.stream ? {
              onReasoning: (t: string) => delta({ reasoning_content: t }),
              onToolCallStart: (index: number, name: string) => { ids[index] = toolCallId(); delta({ tool_calls: [{ index, id: ids[index], type: 'function', function: { name, arguments: '' } }] }); },
              onToolCallArguments: (index: number, text: string) => delta({ tool_calls: [{ index, function: { arguments: text } }] }),
            } : {}),
          });
        } else {
          if (parsed.stream && forced && !forced.wrapped) {
            ids[0] = toolCallId();
            delta({ tool_calls: [{ index: 0, id: ids[0], type: 'function', function: { name: forced.name, arguments: '' } }] });
          }
          result = await engine.generate(seq, { ...base, tokens, grammar, ...(onText ? { onText } : {}) });
          splitter?.end();
          if (thoughts) {
            const r = splitReasoning(result.text, thoughts);
            result.text = r.content;
            if (r.reasoning !== undefined) result.reasoning = r.reasoning;
          }
          if (forced) {
            let call: GeneratedToolCall | undefined;
            if (!forced.wrapped) call = { name: forced.name!, arguments: result.text };
            else {
              try {
                const j = JSON.parse(result.text) as { name: string; arguments: unknown };
                call = { name: j.name, arguments: JSON.stringify(j.arguments) };
              } catch { /* cut off by max_tokens: no complete call */ }
            }
            if (call) {
              result.toolCalls = [call];
              if (!forced.wrapped || result.finishReason === 'stop') result.text = '';
              if (result.finishReason === 'stop') result.finishReason = 'tool_calls';
              if (parsed.stream && forced.wrapped) {
                ids[0] = toolCallId();
                delta({ tool_calls: [{ index: 0, id: ids[0], type: 'function', function: call }] });
              }
            } else if (parsed.stream && result.text !== '') delta({ content: result.text });
          }
        }
        completionTokens = result.completionTokens;
        cachedTokens = result.cachedTokens;
        const u = usage(result.promptTokens, result.completionTokens, result.cachedTokens);
        const toolCalls = result.toolCalls?.length ? result.toolCalls.map((c, i) => ({ id: ids[i] ?? toolCallId(), type: 'function', function: c })) : undefined;
        if (parsed.stream) {
          if (kind === 'chat') send([{ index: 0, delta: {}, logprobs: wantLp && pendingLp.length > 0 ? chatLogprobs(pendingLp.splice(0)) : null, finish_reason: result.finishReason }]);
          else send([{ index: 0, text: '', logprobs: wantLp && pendingLp.length > 0 ? completionLogprobs(pendingLp.splice(0), lpOffset) : null, finish_reason: result.finishReason }]);
          if (parsed.includeUsage) res.write(`data: ${JSON.stringify({ id, object, created, model, choices: [], usage: u })}\n\n`);
          res.end('data: [DONE]\n\n');
        } else {
          const message = {
            role: 'assistant', content: toolCalls && result.text === '' ? null : result.text, refusal: null,
            ...(result.reasoning !== undefined ? { reasoning_content: result.reasoning } : {}),
            ...(toolCalls ? { tool_calls: toolCalls } : {}),
          };
          sendJson(res, 200, kind === 'chat'
            ? { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, logprobs: result.logprobs ? chatLogprobs(result.logprobs) : null, finish_reason: result.finishReason }], usage: u }
            : { id, object: 'text_completion', created, model, choices: [{ index: 0, text: result.text, logprobs: result.logprobs ? completionLogprobs(result.logprobs) : null, finish_reason: result.finishReason }], usage: u });
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
      errorMessage = clip(err.message, 300);
      errorType = status === 499 ? 'cancelled' : errorTypeFor(err);
      const headers: Record<string, string> = status === 429 ? { 'retry-after': '1' } : {};
      if (this.state === 'draining') headers.connection = 'close';
      const sock = req.socket;
      if (sock.destroyed || sock.writableEnded) { /* cut off (timeout, drain, client gone): nothing to answer */ }
      else if (!res.headersSent) sendJson(res, status, err.body(), headers);
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
      if (cachedTokens) metrics.cachedTokens.inc(cachedTokens);
      if (completionTokens > 0) metrics.generatedTokens.inc(completionTokens);
      log.info({
        method: req.method, path: req.url, status, error_type: errorType, error: errorMessage, stream,
        prompt_tokens: promptTokens, cached_tokens: cachedTokens, completion_tokens: completionTokens, finish_reason: result?.finishReason,
        duration_ms: Math.round(end - start), queue_ms: queueMs === undefined ? undefined : Math.round(queueMs),
        ttft_ms: result?.firstTokenAt === undefined ? undefined : Math.round(result.firstTokenAt - start),
      }, 'request');
      if (this.inflight.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
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
