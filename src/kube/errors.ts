// Errors from the apiserver, with the predicates the controller branches on.
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(method: string, path: string, status: number, body: unknown) {
    const b = body as { message?: string; reason?: string } | undefined;
    super(`${method} ${path}: ${status} ${b?.message ?? ''}`.trim());
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = b?.reason ?? '';
    this.body = body;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.status === 410;
export const isForbidden = (e: unknown): boolean => e instanceof KubeApiError && e.status === 403;
