// Model provisioning: `hf:<owner>/<repo>:<quant>` (or `hf:<owner>/<repo>/<file>.gguf`), an
// https URL (plain http only with --allow-http-download), or a file path. Downloads go to a cache
// dir under a name derived from the URL, through a partial file of this process's own
// (`<dest>.<id>.partial`, renamed into place atomically when complete), so replicas sharing one
// cache volume never write the same file; a partial left behind by a process that is gone is
// adopted and resumed with a Range request, checked against the first response's Content-Range,
// ETag and Last-Modified (If-Range), and restarted from zero when they do not match. A download
// that receives no byte for `stallTimeoutS` fails with a clear message (never hangs). URLs are
// logged and reported without credentials or query string. The result is optionally checked
// against a SHA-256 and always against the GGUF header and tensor extents.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';

export class ModelError extends Error {}

export type ModelSpec =
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string; fileName: string };

/** A URL as it may be logged or reported: no credentials, no query string, no fragment. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<unparseable URL>';
  }
}

/** A `--model` value as it may be logged: URLs redacted, `hf:` specs and paths as they are. */
export function redactModelSpec(spec: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(spec) ? redactUrl(spec) : spec;
}

/**
 * `hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M` → the file `Qwen3-4B-Instruct-2507-Q4_K_M.gguf`
 * of that repository (the naming convention of GGUF repositories: repo name without `-GGUF`,
 * then `-<quant>.gguf`). `hf:owner/repo/path/file.gguf` names the file explicitly.
 */
export function hfUrl(spec: string, endpoint = 'https://huggingface.co'): { url: string; fileName: string } {
  const rest = spec.slice('hf:'.length);
  const explicit = /^([\w.-]+)\/([\w.-]+)\/(.+\.gguf)$/i.exec(rest);
  if (explicit) {
    const [, owner, repo, file] = explicit as unknown as [string, string, string, string];
    return { url: `${endpoint}/${owner}/${repo}/resolve/main/${file.split('/').map(encodeURIComponent).join('/')}`, fileName: basename(file) };
  }
  const m = /^([\w.-]+)\/([\w.-]+):([\w.-]+)$/.exec(rest);
  if (!m) throw new ModelError(`bad model spec '${spec}': expected hf:<owner>/<repo>:<quant> or hf:<owner>/<repo>/<file>.gguf`);
  const [, owner, repo, quant] = m as unknown as [string, string, string, string];
  const fileName = `${repo.replace(/-GGUF$/i, '')}-${quant}.gguf`;
  return { url: `${endpoint}/${owner}/${repo}/resolve/main/${fileName}`, fileName };
}

export function parseModelSpec(spec: string): ModelSpec {
  if (spec.startsWith('hf:')) return { kind: 'url', ...hfUrl(spec) };
  if (/^https?:\/\//i.test(spec)) {
    let u: URL;
    try { u = new URL(spec); } catch { throw new ModelError(`bad model URL '${redactUrl(spec)}': cannot parse it`); }
    let name: string;
    try { name = decodeURIComponent(basename(u.pathname)); } catch { name = basename(u.pathname); }
    return { kind: 'url', url: spec, fileName: name || 'model.gguf' };
  }
  return { kind: 'file', path: spec };
}

/** Cache file for a URL: `<sha256(url)[:16]>-<file name>`. */
export function cachePathFor(cacheDir: string, url: string, fileName: string): string {
  const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
  return join(cacheDir, `${key}-${fileName.replace(/[^\w.-]/g, '_')}`);
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export type DownloadOptions = {
  stallTimeoutS: number;
  retries?: number;
  log?: Logger;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Allow plain http:// (`--allow-http-download`). Never a redirect from https to http. */
  allowHttp?: boolean;
  /** Trusted CA certificates for https (tests; in a pod use NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /** How often a process waiting for another one's download looks again (ms, default 1000). */
  pollMs?: number;
};

/** What the first response said about the resource; a resume must match it. */
type PartialMeta = { etag?: string; lastModified?: string; total?: number };

type AttemptResult = { done: true } | { done: false; error: Error; retryable: boolean };

/** Refuses a URL whose scheme is not allowed: https always; http only when allowed, never after https. */
function schemeError(u: URL, opts: DownloadOptions, from?: URL): ModelError | undefined {
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:') {
    if (from?.protocol === 'https:') return new ModelError(`refusing the redirect from ${redactUrl(from.href)} to plain http: ${redactUrl(u.href)}`);
    if (opts.allowHttp) return undefined;
    return new ModelError(`refusing to download over plain http: ${redactUrl(u.href)} (use https://, or --allow-http-download)`);
  }
  return new ModelError(`unsupported URL scheme '${u.protocol}' in ${redactUrl(u.href)}`);
}

/** `bytes a-b/N` → {start, total}; total undefined for `*`. */
function parseContentRange(v: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

const metaPath = (partial: string) => `${partial}.json`;

async function readMeta(partial: string): Promise<PartialMeta | undefined> {
  try {
    const j = JSON.parse(await readFile(metaPath(partial), 'utf8')) as PartialMeta;
    return typeof j === 'object' && j !== null ? j : undefined;
  } catch {
    return undefined;
  }
}

async function discard(partial: string): Promise<void> {
  await rm(partial, { force: true });
  await rm(metaPath(partial), { force: true });
}

/** One GET (redirects not followed); resolves once the response headers are in. */
function get(u: URL, headers: Record<string, string>, signal: AbortSignal, ca: string | Buffer | undefined): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const reqOpts: https.RequestOptions = { headers, signal };
    if (ca && u.protocol === 'https:') reqOpts.ca = ca;
    (u.protocol === 'https:' ? https : http).get(u, reqOpts, resolve).on('error', reject);
  });
}

/** Aborts its signal when `touch` has not been called for `ms`: a stalled transfer fails, never hangs. */
class StallWatch {
  private readonly ac = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly ms: number;
  fired = false;
  constructor(ms: number) { this.ms = ms; this.touch(); }
  get signal(): AbortSignal { return this.ac.signal; }
  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.fired = true; this.ac.abort(); }, this.ms);
  }
  stop(): void { clearTimeout(this.timer); }
}

/** Why a 206 answer cannot be appended to the partial file, or undefined when it can. */
function resumeMismatch(res: http.IncomingMessage, offset: number, meta: PartialMeta | undefined): string | undefined {
  const cr = parseContentRange(res.headers['content-range']);
  const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
  const lastModified = res.headers['last-modified'];
  if (!cr) return `no valid Content-Range ('${res.headers['content-range'] ?? ''}')`;
  if (cr.start !== offset) return `Content-Range starts at ${cr.start}, not ${offset}`;
  if (meta?.total !== undefined && cr.total !== meta.total) return `the size changed (${meta.total} → ${cr.total ?? 'unknown'})`;
  if (meta?.etag && etag && etag !== meta.etag) return 'the ETag changed';
  if (meta?.lastModified && lastModified && lastModified !== meta.lastModified) return 'Last-Modified changed';
  if (offset > 0 && !meta) return 'nothing is known about the partial file';
  return undefined;
}

async function attempt(url: string, partial: string, offset: number, meta: PartialMeta | undefined, opts: DownloadOptions): Promise<AttemptResult> {
  const shown = redactUrl(url);
  const fail = (error: Error, retryable: boolean): AttemptResult => ({ done: false, retryable, error });
  const headers: Record<string, string> = { 'user-agent': 'qwen-worker', ...opts.headers };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    // If-Range: the server sends the whole file (200) instead of a range of a changed one.
    if (meta?.etag && !meta.etag.startsWith('W/')) headers['if-range'] = meta.etag;
    else if (meta?.lastModified) headers['if-range'] = meta.lastModified;
  }
  const stall = new StallWatch(opts.stallTimeoutS * 1000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  let received = offset;
  let total: number | undefined;
  const stalledError = () => new ModelError(`download stalled: no byte received for ${opts.stallTimeoutS}s from ${shown} ` +
    `(${received}${total ? ` of ${total}` : ''} bytes so far; --download-stall-timeout)`);
  try {
    let u = new URL(url);
    let from: URL | undefined;
    let res: http.IncomingMessage;
    for (let redirects = 0; ; redirects++) {
      const refused = schemeError(u, opts, from);
      if (refused) return fail(refused, false);
      const reqHeaders = { ...headers };
      const token = process.env.HF_TOKEN;
      if (token && u.protocol === 'https:' && /(^|\.)huggingface\.co$/.test(u.hostname)) reqHeaders.authorization = `Bearer ${token}`;
      stall.touch();
      try {
        res = await get(u, reqHeaders, signal, opts.ca);
      } catch (e) {
        return stall.fired ? fail(stalledError(), false) : fail(new ModelError(`download of ${shown} failed: ${(e as Error).message}`), true);
      }
      const status = res.statusCode ?? 0;
      if (!(status >= 300 && status < 400 && res.headers.location)) break;
      res.resume();
      if (redirects > 10) return fail(new ModelError(`too many redirects for ${shown}`), false);
      try { from = u; u = new URL(res.headers.location, u); } catch { return fail(new ModelError(`bad redirect from ${shown}`), false); }
    }
    const status = res.statusCode ?? 0;
    if (status === 416 && offset > 0) {
      res.resume();
      const cr = /^bytes\s+\*\/(\d+)$/i.exec(res.headers['content-range']?.trim() ?? '');
      // The partial file is already the whole file.
      if (cr && Number(cr[1]) === offset && meta?.total === offset) return { done: true };
      // Longer than the resource, or a different one: start over.
      await discard(partial);
      return fail(new ModelError(`range not satisfiable at ${offset} for ${shown}; restarting from zero`), true);
    }
    if (status !== 200 && status !== 206) {
      res.resume();
      return fail(new ModelError(`download of ${shown} failed: HTTP ${status}`), status >= 500 || status === 429);
    }
    const append = status === 206 && offset > 0;
    if (status === 206) {
      const why = resumeMismatch(res, offset, meta);
      if (why) {
        res.destroy();
        opts.log?.warn({ url: shown, offset, reason: why }, 'resumed download does not match the partial file; restarting from zero');
        await discard(partial);
        return fail(new ModelError(`resume of ${shown} at ${offset} refused: ${why}; restarting from zero`), true);
      }
      total = parseContentRange(res.headers['content-range'])!.total;
    }
    if (!append) {
      received = 0;
      const len = Number(res.headers['content-length']);
      total = res.headers['content-length'] !== undefined && Number.isFinite(len) ? len : undefined;
    }
    opts.log?.info({ url: shown, status, resumeFrom: append ? offset : 0, total }, append ? 'resuming model download' : 'downloading model');
    if (!append) {
      // A fresh start records what the resource was, for later resumes (written before any data).
      const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      try {
        await writeFile(metaPath(partial), JSON.stringify({ etag, lastModified: res.headers['last-modified'], total } satisfies PartialMeta));
      } catch (e) {
        res.destroy();
        return fail(new ModelError(`cannot write ${metaPath(partial)}: ${(e as Error).message}`), false);
      }
    }
    let lastLog = Date.now();
    async function* counted(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        received += chunk.length;
        stall.touch();
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          opts.log?.info({ url: shown, received, total, percent: total ? Math.floor((received / total) * 100) : undefined }, 'model download progress');
        }
        yield chunk;
      }
    }
    const out = createWriteStream(partial, { flags: append ? 'a' : 'w' });
    // pipeline destroys every stream with the first error: a file error is one seen before the
    // response failed (a write error is not retried, a network one is).
    let sourceFailed = false;
    let writeError: Error | undefined;
    res.once('error', () => { sourceFailed = true; });
    res.once('close', () => { if (!res.complete) sourceFailed = true; });
    out.once('error', (e) => { if (!sourceFailed) writeError = e; });
    try {
      // On failure pipeline destroys the file stream after its pending writes: the partial file
      // holds a prefix of the resource, and its size is the next offset.
      await pipeline(res, counted, out);
    } catch (e) {
      if (writeError) return fail(new ModelError(`cannot write ${partial}: ${writeError.message}`), false);
      if (stall.fired) return fail(stalledError(), false);
      return fail(new ModelError(`download of ${shown} interrupted after ${received} bytes: ${(e as Error).message}`), true);
    }
    if (total !== undefined && received < total) return fail(new ModelError(`download of ${shown} ended early: ${received} of ${total} bytes`), true);
    if (!res.complete) return fail(new ModelError(`download of ${shown} ended early after ${received} bytes`), true);
    return { done: true };
  } finally {
    stall.stop();
  }
}

/** Other processes' partial files of `dest`: `<dest>.<12 hex>.partial`. */
async function partialsOf(dest: string): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const prefix = `${basename(dest)}.`;
  const out = [];
  for (const name of await readdir(dirname(dest)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}\.partial$/.test(name.slice(prefix.length))) continue;
    const path = join(dirname(dest), name);
    const st = await stat(path).catch(() => undefined);
    if (st) out.push({ path, size: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

/**
 * Downloads `url` to `dest` through a partial file of this process's own, renamed into place when
 * complete (and its size checked). While another process's partial is growing, waits for it
 * (replicas sharing a cache volume download once); one that has not grown for longer than the
 * stall timeout belongs to a process that is gone: it is adopted (an atomic rename, so only one
 * process gets it) and resumed. Returns `dest`.
 */
export async function download(url: string, dest: string, opts: DownloadOptions): Promise<string> {
  const shown = redactUrl(url);
  const refused = schemeError(new URL(url), opts);
  if (refused) throw refused;
  const mine = `${dest}.${randomBytes(6).toString('hex')}.partial`;
  const staleMs = (opts.stallTimeoutS + 5) * 1000;
  let waitLogged = false;
  for (;;) {
    if (existsSync(dest)) return dest;
    if (opts.signal?.aborted) throw new ModelError(`download of ${shown} aborted`);
    const others = await partialsOf(dest);
    const active = others.filter((p) => Date.now() - p.mtimeMs < staleMs);
    if (active.length > 0) {
      if (!waitLogged) opts.log?.info({ url: shown, partial: basename(active[0]!.path), bytes: active[0]!.size }, 'another process is downloading this model; waiting for it');
      waitLogged = true;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
      continue;
    }
    // A partial file renamed into place between the first check and the listing is gone from it.
    if (existsSync(dest)) return dest;
    // The single `<dest>.partial` of earlier versions says nothing about what it holds: dropped once stale.
    const legacy = await stat(`${dest}.partial`).catch(() => undefined);
    if (legacy && Date.now() - legacy.mtimeMs >= staleMs) await rm(`${dest}.partial`, { force: true });
    for (const p of others.sort((a, b) => b.size - a.size)) {
      try {
        await rename(p.path, mine);
      } catch {
        continue; // another process adopted it first
      }
      await rename(metaPath(p.path), metaPath(mine)).catch(() => rm(metaPath(mine), { force: true }));
      opts.log?.info({ url: shown, bytes: p.size }, 'adopting a partial download left by a process that is gone');
      break;
    }
    break;
  }
  const retries = opts.retries ?? 3;
  let lastError: Error | undefined;
  for (let i = 0; i <= retries; i++) {
    let offset = existsSync(mine) ? (await stat(mine)).size : 0;
    const meta = offset > 0 ? await readMeta(mine) : undefined;
    if (offset > 0 && !meta) {
      // Nothing says what these bytes are: not resumable.
      await discard(mine);
      offset = 0;
    }
    const r = await attempt(url, mine, offset, meta, opts);
    if (r.done) {
      const size = (await stat(mine)).size;
      const want = (await readMeta(mine))?.total;
      if (want !== undefined && size !== want) {
        // Someone else wrote into this file (a paused process that came back): start over.
        lastError = new ModelError(`download of ${shown} has ${size} bytes, expected ${want}; restarting from zero`);
        opts.log?.warn({ url: shown, size, expected: want }, 'downloaded file has the wrong size; restarting from zero');
        await discard(mine);
        continue;
      }
      await rename(mine, dest);
      await rm(metaPath(mine), { force: true });
      return dest;
    }
    lastError = r.error;
    opts.log?.warn({ url: shown, err: r.error.message, attempt: i + 1 }, 'model download attempt failed');
    if (!r.retryable) break;
    await new Promise((res) => setTimeout(res, Math.min(200 * 2 ** i, 2000)));
  }
  throw lastError ?? new ModelError(`download of ${shown} failed`);
}

/**
 * Cheap structural check of a GGUF file before llama.cpp sees it: the magic, a parseable header
 * (node-llama-cpp's reader), and every tensor's data starting inside the file (truncation).
 */
export async function checkGguf(path: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new ModelError(`model file not found: ${path}`);
  if (!st.isFile()) throw new ModelError(`model path is not a file: ${path}`);
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    if (bytesRead < 4 || buffer.toString('latin1') !== 'GGUF') {
      throw new ModelError(`not a GGUF file (bad magic): ${path}`);
    }
  } finally {
    await fh.close();
  }
  const { readGgufFileInfo } = await import('node-llama-cpp');
  let info;
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, spliceSplitFiles: false });
  } catch (e) {
    throw new ModelError(`corrupt GGUF file ${path}: ${(e as Error).message}`);
  }
  let maxOffset = 0;
  for (const t of info.tensorInfo ?? []) maxOffset = Math.max(maxOffset, Number(t.fileOffset));
  if ((info.tensorInfo?.length ?? 0) === 0 || maxOffset >= st.size) {
    throw new ModelError(`truncated GGUF file ${path}: ${st.size} bytes, but tensor data extends past ${maxOffset}`);
  }
}

export type ProvisionOptions = {
  cacheDir: string;
  sha256?: string;
  stallTimeoutS: number;
  log?: Logger;
  retries?: number;
  allowHttp?: boolean;
  ca?: string | Buffer;
};

/** Resolves a `--model` spec to a verified local GGUF path. Throws ModelError with a clear message. */
export async function provisionModel(spec: string, opts: ProvisionOptions): Promise<string> {
  const parsed = parseModelSpec(spec);
  let path: string;
  if (parsed.kind === 'file') {
    path = parsed.path;
    if (!existsSync(path)) throw new ModelError(`model file not found: ${path}`);
  } else {
    const refused = schemeError(new URL(parsed.url), { stallTimeoutS: opts.stallTimeoutS, allowHttp: opts.allowHttp });
    if (refused) throw refused;
    await mkdir(opts.cacheDir, { recursive: true });
    path = cachePathFor(opts.cacheDir, parsed.url, parsed.fileName);
    if (existsSync(path)) {
      opts.log?.info({ url: redactUrl(parsed.url), path }, 'model found in cache');
    } else {
      await download(parsed.url, path, { stallTimeoutS: opts.stallTimeoutS, log: opts.log, retries: opts.retries, allowHttp: opts.allowHttp, ca: opts.ca });
    }
  }
  if (opts.sha256) {
    const got = await sha256File(path);
    if (got !== opts.sha256.toLowerCase()) {
      if (parsed.kind === 'url') await rename(path, `${path}.sha256-mismatch`).catch(() => undefined);
      throw new ModelError(`model SHA-256 mismatch for ${path}: expected ${opts.sha256}, got ${got}`);
    }
  }
  await checkGguf(path);
  return path;
}
