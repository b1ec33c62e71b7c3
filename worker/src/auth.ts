// API keys (`--api-key-file`): one key per line, blank lines and `#` comments ignored, several keys
// at once (rotation). The file is re-read when it changes: every check stats the path (it follows
// symlinks, so a Kubernetes Secret update — an atomic swap of the `..data` symlink — shows up as a
// new inode) and reloads on any change of inode, size, mtime or ctime. Keys are compared in
// constant time over their SHA-256 digests (equal lengths, no early exit).
//
// Named keys: when the path is a directory (a whole Secret mounted as a volume: one file per data
// key), each file's name is a tenant and its lines that tenant's keys (same format); names starting
// with `.` (the kubelet's `..data` and timestamped folders) are skipped. A check returns the tenant
// whose key matched; a single key file is one tenant, DEFAULT_TENANT. The directory is re-read when
// any of its files (or the set of names) changes, with the same revocation and grace rules.
//
// A file that now holds no key (empty, or comments only) revokes every key at once. A file that
// cannot be read (deleted, replaced by a directory, permissions) is a fault, not a revocation: it
// is logged and counted, the last keys stay valid for a short grace (API_KEY_FAULT_GRACE_S: a
// Secret being swapped, a rewrite in progress) and then every request is refused until the file
// can be read again.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export class ApiKeyError extends Error {}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Keys of a key file's text: trimmed lines, without blanks and `#` comments. */
export function parseKeys(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The tenant of every key of a single key file. */
export const DEFAULT_TENANT = 'default';

export type AuthResult = { ok: true; tenant: string } | { ok: false; message: string };

type Key = { digest: Buffer; tenant: string };

/** What the path holds now: a change signature and its keys by tenant. Throws when it cannot be read. */
function readKeys(path: string, dir: boolean): { sig: string; keys: Key[] } {
  const sigOf = (p: string) => {
    const st = statSync(p, { bigint: true });
    if (dir && st.isDirectory() && p !== path) throw Object.assign(new Error(`${p} is a directory`), { code: 'EISDIR' });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  };
  if (!dir) {
    const sig = sigOf(path);
    return { sig, keys: parseKeys(readFileSync(path, 'utf8')).map((k) => ({ digest: digest(k), tenant: DEFAULT_TENANT })) };
  }
  const names = readdirSync(path).filter((n) => !n.startsWith('.')).sort();
  const sigs: string[] = [];
  const keys: Key[] = [];
  for (const name of names) {
    const file = join(path, name);
    sigs.push(`${name}=${sigOf(file)}`);
    for (const k of parseKeys(readFileSync(file, 'utf8'))) keys.push({ digest: digest(k), tenant: name });
  }
  return { sig: sigs.join(';'), keys };
}

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
  /** The path is a directory of named keys (decided once, at start). */
  readonly named: boolean;
  private hashes: Key[] = [];
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
    let read: { sig: string; keys: Key[] };
    try {
      this.named = statSync(path).isDirectory();
      read = readKeys(path, this.named);
    } catch (e) {
      throw new ApiKeyError(`--api-key-file ${path}: cannot read it: ${(e as Error).message}`);
    }
    if (read.keys.length === 0) {
      throw new ApiKeyError(this.named
        ? `--api-key-file ${path}: no key in the directory (one file per tenant, one key per line; blank lines and # comments are ignored)`
        : `--api-key-file ${path}: no key in it (one key per line; blank lines and # comments are ignored)`);
    }
    this.hashes = read.keys;
    this.signature = read.sig;
  }

  get count(): number { return this.hashes.length; }

  /** The tenants that hold at least one key now. */
  get tenants(): string[] { return [...new Set(this.hashes.map((h) => h.tenant))].sort(); }

  /**
   * Re-reads the file when it changed: no key in it revokes every key; an unreadable file keeps the
   * last keys for the grace period, then none (and is tried again on every request).
   */
  refresh(): void {
    let read: { sig: string; keys: Key[] };
    try {
      read = readKeys(this.path, this.named);
      if (read.sig === this.signature) { this.recovered(); return; }
    } catch (e) {
      this.fault(e as Error);
      return;
    }
    this.recovered();
    this.hashes = read.keys;
    this.signature = read.sig;
    if (read.keys.length === 0) this.log?.warn({ path: this.path }, 'API key file holds no key: every key is revoked, every request refused');
    else this.log?.info({ path: this.path, keys: read.keys.length, ...(this.named ? { tenants: this.tenants } : {}) }, 'API keys reloaded');
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
    let tenant: string | undefined;
    // Every digest is compared (no early exit): the time does not tell which tenant, if any, matched.
    for (const h of this.hashes) if (timingSafeEqual(got, h.digest) && tenant === undefined) tenant = h.tenant;
    return tenant !== undefined ? { ok: true, tenant } : { ok: false, message: 'Incorrect API key provided' };
  }
}
