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
/** A create whose name is taken (a 409 Conflict from an update is not this). */
export const isAlreadyExists = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409 && e.reason === 'AlreadyExists';
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.status === 410;
export const isForbidden = (e: unknown): boolean => e instanceof KubeApiError && e.status === 403;

/**
 * An answer that will be the same next time unless someone changes something (the object, a
 * policy, RBAC): the apiserver validated and refused the request. Timeouts, 409 (optimistic
 * concurrency), 429 and 5xx are worth retrying as they are.
 */
export const isRefusal = (e: unknown): e is KubeApiError => e instanceof KubeApiError && [400, 403, 404, 405, 406, 413, 415, 422].includes(e.status);

/** A write this replica may not send: it is not (or no longer surely) the leader. */
export class NotLeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotLeaderError';
  }
}
