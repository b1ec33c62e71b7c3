// The error answer of every route, in OpenAI's shape ({error: {message, type, param, code}}), as the
// worker gives it (worker/src/api-error.ts, which router/src may not import): clients see one shape
// whether the router or a worker refused them.
import type { ServerResponse } from 'node:http';

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  constructor(status: number, message: string, opts: { type?: string; param?: string | null; code?: string | null } = {}) {
    super(message);
    this.status = status;
    this.type = opts.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
  }
  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Client input echoed in an error message: at most `max` characters. */
export const clip = (s: string, max = 64) => (s.length > max ? `${s.slice(0, max - 3)}...` : s);

/** A JSON answer; on a response already started (a stream) it only ends it. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return; }
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

export const sendError = (res: ServerResponse, e: ApiError, headers: Record<string, string> = {}) => sendJson(res, e.status, e.body(), headers);
