// A copy of the worker's worker/src/auth.ts (same file format, same reload, revocation and grace rules:
// one Secret serves both), since router/src may import nothing of the worker but its contract.
// Keep the two identical until they move to a shared place.
//
// API keys (`--api-key-file`): one key per line, blank lines and `#` comments ignored, several keys
// at once (rotation). The file is re-read when it changes: every check stats the path (it follows
// symlinks, so a Kubernetes Secret update — an atomic swap of the `..data` symlink — shows up as a
// new inode) and reloads on any change of inode, size, mtime or ctime. Keys are compared in
// constant time over their SHA-256 digests (equal lengths, no early exit).
//
// A file that now holds no key (empty, or comments only) revokes every key at once. A file that
// cannot be read (deleted, replaced by a directory, permissions) is a fault, not a revocation: it
// is logged and counted, the last keys stay valid for a short grace (API_KEY_FAULT_GRACE_S: a
// Secret being swapped, a rewrite in progress) and then every request is refused until the file
// can be read again.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';

export class ApiKeyError extends Error {}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Keys of a key file's text: trimmed lines, without blanks and `#` comments. */
export function parseKeys(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export type AuthResult = { ok: true } | { ok: false; message: string };

/** How long the last keys stay valid while the key file cannot be read. */
export const API_KEY_FAULT_GRACE_S = 60;

export type ApiKeysOptions = {
  log?: Logger | undefined;
  /** Seconds the last keys stay valid while the file cannot be read (default API_KEY_FAULT_GRACE_S). */
  graceS?: number;
  /** Called when the file becomes unreadable (a metric counts these faults). */
  onFault?: () => void;
};

export class ApiKeys {
  readonly path: string;
  private readonly log: Logger | undefined;
  private readonly graceMs: number;
  private readonly onFault: () => void;
  private hashes: Buffer[] = [];
  private signature = '';
  /** performance.now() when the file became unreadable; undefined while it reads fine. */
  private faultSince: number | undefined;
  private graceOverLogged = false;

  /** Loads the file; an unreadable file or one without a key is an error (never "open by accident"). */
  constructor(path: string, opts: ApiKeysOptions = {}) {
    this.path = path;
    this.log = opts.log;
    this.graceMs = (opts.graceS ?? API_KEY_FAULT_GRACE_S) * 1000;
    this.onFault = opts.onFault ?? (() => {});
    let text: string;
    let sig: string;
    try {
      sig = this.stat();
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ApiKeyError(`--api-key-file ${path}: cannot read it: ${(e as Error).message}`);
    }
    const keys = parseKeys(text);
    if (keys.length === 0) throw new ApiKeyError(`--api-key-file ${path}: no key in it (one key per line; blank lines and # comments are ignored)`);
    this.hashes = keys.map(digest);
    this.signature = sig;
  }

  get count(): number { return this.hashes.length; }

  private stat(): string {
    const st = statSync(this.path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  /**
   * Re-reads the file when it changed: no key in it revokes every key; an unreadable file keeps the
   * last keys for the grace period, then none (and is tried again on every request).
   */
  refresh(): void {
    let sig: string;
    let text: string;
    try {
      sig = this.stat();
      if (sig === this.signature) { this.recovered(); return; }
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      this.fault(e as Error);
      return;
    }
    this.recovered();
    const keys = parseKeys(text);
    this.hashes = keys.map(digest);
    this.signature = sig;
    if (keys.length === 0) this.log?.warn({ path: this.path }, 'API key file holds no key: every key is revoked, every request refused');
    else this.log?.info({ path: this.path, keys: keys.length }, 'API keys reloaded');
  }

  private recovered(): void {
    if (this.faultSince === undefined) return;
    this.faultSince = undefined;
    this.log?.info({ path: this.path }, 'API key file readable again');
  }

  private fault(e: Error): void {
    const now = performance.now();
    if (this.faultSince === undefined) {
      this.faultSince = now;
      this.graceOverLogged = false;
      this.onFault();
      this.log?.error({ path: this.path, err: e.message, code: (e as NodeJS.ErrnoException).code, keys: this.hashes.length, graceS: this.graceMs / 1000 },
        'API key file unreadable; the last keys stay valid for the grace period');
    }
    if (now - this.faultSince >= this.graceMs && this.hashes.length > 0) {
      this.hashes = [];
      // Whatever the file holds once readable again is loaded, even the same bytes.
      this.signature = '';
      if (!this.graceOverLogged) {
        this.graceOverLogged = true;
        this.log?.error({ path: this.path, err: e.message, graceS: this.graceMs / 1000 }, 'API key file still unreadable after the grace period: every request refused');
      }
    }
  }

  /** Checks an `Authorization` header value. */
  check(authorization: string | undefined): AuthResult {
    this.refresh();
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!m) {
      return { ok: false, message: authorization ? 'Malformed Authorization header: expected "Bearer <API key>"' : 'Missing API key: send it as "Authorization: Bearer <API key>"' };
    }
    const got = digest(m[1]!);
    let match = false;
    for (const h of this.hashes) match = timingSafeEqual(got, h) || match;
    return match ? { ok: true } : { ok: false, message: 'Incorrect API key provided' };
  }
}
