// The error answer every route gives, in OpenAI's shape: {error: {message, type, param, code}}.

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
