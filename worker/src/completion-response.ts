// The answer to one completion in OpenAI's shapes: server-sent chunks while it is generated
// (`stream: true`), or one JSON body at the end.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { GeneratedToolCall, GenerateResult, TokenLogprob } from './engine.ts';
import { usage } from './openai.ts';
import { sendJson } from './send-json.ts';

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

export type ResponseOptions = {
  kind: 'chat' | 'completion';
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** Log-probabilities were asked for. */
  logprobs: boolean;
};

export class CompletionResponse {
  private readonly res: ServerResponse;
  private readonly opts: ResponseOptions;
  private readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly object: string;
  /** Streamed log-probabilities ride on the next chunk sent after their tokens. */
  private readonly pendingLogprobs: TokenLogprob[] = [];
  /** Legacy completions: text offset of the next streamed token. */
  private textOffset = 0;
  /** Tool call ids by index, given when a call is first sent. */
  private readonly callIds: string[] = [];

  constructor(res: ServerResponse, opts: ResponseOptions) {
    this.res = res;
    this.opts = opts;
    this.id = `${opts.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
    this.object = opts.stream ? (opts.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion') : '';
  }

  /** Streams: the event-stream head and, for chat, the assistant's opening chunk. */
  start(): void {
    if (!this.opts.stream) return;
    this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    if (this.opts.kind === 'chat') this.delta({ role: 'assistant', content: '' });
  }

  addLogprobs(lps: TokenLogprob[]): void {
    this.pendingLogprobs.push(...lps);
  }

  /** A chat chunk. */
  delta(d: Record<string, unknown>): void {
    this.send([{ index: 0, delta: d, logprobs: this.opts.logprobs ? chatLogprobs(this.pendingLogprobs.splice(0)) : null, finish_reason: null }]);
  }

  /** A legacy completions chunk. */
  text(text: string): void {
    const lps = this.pendingLogprobs.splice(0);
    this.send([{ index: 0, text, logprobs: this.opts.logprobs ? completionLogprobs(lps, this.textOffset) : null, finish_reason: null }]);
    for (const e of lps) this.textOffset += e.token.length;
  }

  /** The first chunk of tool call `index`: its id and name. */
  toolCallStart(index: number, name: string): void {
    this.callIds[index] = toolCallId();
    this.delta({ tool_calls: [{ index, id: this.callIds[index], type: 'function', function: { name, arguments: '' } }] });
  }

  toolCallArguments(index: number, text: string): void {
    this.delta({ tool_calls: [{ index, function: { arguments: text } }] });
  }

  /** A tool call sent in one chunk (known only once generated). */
  wholeToolCall(call: GeneratedToolCall): void {
    this.callIds[0] = toolCallId();
    this.delta({ tool_calls: [{ index: 0, id: this.callIds[0], type: 'function', function: call }] });
  }

  /** The end: the last chunk (finish reason, usage) and [DONE], or the whole JSON body. */
  finish(result: GenerateResult): void {
    const { id, object, created } = this;
    const model = this.opts.model;
    const u = usage(result.promptTokens, result.completionTokens, result.cachedTokens);
    if (this.opts.stream) {
      const lps = this.opts.logprobs && this.pendingLogprobs.length > 0 ? this.pendingLogprobs.splice(0) : undefined;
      if (this.opts.kind === 'chat') this.send([{ index: 0, delta: {}, logprobs: lps ? chatLogprobs(lps) : null, finish_reason: result.finishReason }]);
      else this.send([{ index: 0, text: '', logprobs: lps ? completionLogprobs(lps, this.textOffset) : null, finish_reason: result.finishReason }]);
      if (this.opts.includeUsage) this.res.write(`data: ${JSON.stringify({ id, object, created, model, choices: [], usage: u })}\n\n`);
      this.res.end('data: [DONE]\n\n');
      return;
    }
    if (this.opts.kind === 'completion') {
      const choice = { index: 0, text: result.text, logprobs: result.logprobs ? completionLogprobs(result.logprobs) : null, finish_reason: result.finishReason };
      sendJson(this.res, 200, { id, object: 'text_completion', created, model, choices: [choice], usage: u });
      return;
    }
    const toolCalls = result.toolCalls?.length ? result.toolCalls.map((c, i) => ({ id: this.callIds[i] ?? toolCallId(), type: 'function', function: c })) : undefined;
    const message = {
      role: 'assistant', content: toolCalls && result.text === '' ? null : result.text, refusal: null,
      ...(result.reasoning !== undefined ? { reasoning_content: result.reasoning } : {}),
      ...(toolCalls ? { tool_calls: toolCalls } : {}),
    };
    const choice = { index: 0, message, logprobs: result.logprobs ? chatLogprobs(result.logprobs) : null, finish_reason: result.finishReason };
    sendJson(this.res, 200, { id, object: 'chat.completion', created, model, choices: [choice], usage: u });
  }

  private send(choices: unknown[]): void {
    const { id, object, created } = this;
    this.res.write(`data: ${JSON.stringify({ id, object, created, model: this.opts.model, choices, ...(this.opts.includeUsage ? { usage: null } : {}) })}\n\n`);
  }
}
