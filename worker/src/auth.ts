// API keys (`--api-key-file`): one key per line, blank lines and `#` comments ignored, several keys
// at once (rotation). The file is re-read when it changes: every check stats the path (it follows
// symlinks, so a Kubernetes Secret update — an atomic swap of the `..data` symlink — shows up as a
// new inode) and reloads on any change of inode, size, mtime or ctime. Keys are compared in
// constant time over their SHA-256 digests (equal lengths, no early exit).
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

export class ApiKeys {
  readonly path: string;
  private readonly log: Logger | undefined;
  private hashes: Buffer[] = [];
  private signature = '';
  private failing = false;

  /** Loads the file; an unreadable file or one without a key is an error (never "open by accident"). */
  constructor(path: string, log?: Logger) {
    this.path = path;
    this.log = log;
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
   * Re-reads the file when it changed. A file that became unreadable or empty keeps the last good
   * keys (a rewrite in progress, a Secret being swapped) and is tried again on the next request.
   */
  refresh(): void {
    let sig: string;
    let text: string;
    try {
      sig = this.stat();
      if (sig === this.signature) return;
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if (!this.failing) this.log?.error({ path: this.path, err: (e as Error).message }, 'API key file unreadable; keeping the previous keys');
      this.failing = true;
      return;
    }
    const keys = parseKeys(text);
    if (keys.length === 0) {
      if (!this.failing) this.log?.error({ path: this.path }, 'API key file has no key; keeping the previous keys');
      this.failing = true;
      return;
    }
    this.failing = false;
    this.hashes = keys.map(digest);
    this.signature = sig;
    this.log?.info({ path: this.path, keys: keys.length }, 'API keys reloaded');
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
