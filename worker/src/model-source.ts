// Model provisioning: `hf:<owner>/<repo>:<quant>` (or `hf:<owner>/<repo>/<file>.gguf`), an
// http(s) URL, or a file path. Downloads go to a cache dir under a name derived from the URL,
// through a `.partial` file that later attempts resume with a Range request. A download that
// receives no byte for `stallTimeoutS` fails with a clear message (never hangs). The result is
// optionally checked against a SHA-256 and always against the GGUF header and tensor extents.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';

export class ModelError extends Error {}

export type ModelSpec =
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string; fileName: string };

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
    try { u = new URL(spec); } catch { throw new ModelError(`bad model URL '${spec}'`); }
    const name = decodeURIComponent(basename(u.pathname)) || 'model.gguf';
    return { kind: 'url', url: spec, fileName: name };
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
};

type AttemptResult = { done: true } | { done: false; error: Error; retryable: boolean };

function attempt(url: string, partial: string, offset: number, opts: DownloadOptions, redirects = 0): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { 'user-agent': 'qwen-worker', ...opts.headers };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const token = process.env.HF_TOKEN;
    if (token && /(^|\.)huggingface\.co$/.test(u.hostname)) headers.authorization = `Bearer ${token}`;
    let settled = false;
    let stallTimer: NodeJS.Timeout | undefined;
    const finish = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(stallTimer);
      resolve(r);
    };
    const stallMs = opts.stallTimeoutS * 1000;
    let received = offset;
    let total: number | undefined;
    const stalled = () => {
      req.destroy();
      finish({
        done: false, retryable: false,
        error: new ModelError(`download stalled: no byte received for ${opts.stallTimeoutS}s from ${url} ` +
          `(${received}${total ? ` of ${total}` : ''} bytes so far; --download-stall-timeout)`),
      });
    };
    const arm = () => { clearTimeout(stallTimer); stallTimer = setTimeout(stalled, stallMs); };
    const req = mod.get(u, { headers, signal: opts.signal }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        clearTimeout(stallTimer);
        settled = true;
        if (redirects > 10) { resolve({ done: false, retryable: false, error: new ModelError(`too many redirects for ${url}`) }); return; }
        resolve(attempt(new URL(res.headers.location, url).toString(), partial, offset, opts, redirects + 1));
        return;
      }
      if (status === 416 && offset > 0) {
        // The partial file is already complete (or longer than the resource): start over.
        res.resume();
        finish({ done: false, retryable: true, error: new ModelError(`range not satisfiable at ${offset}; restarting`) });
        void rm(partial, { force: true });
        return;
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        finish({ done: false, retryable: status >= 500 || status === 429, error: new ModelError(`download of ${url} failed: HTTP ${status}`) });
        return;
      }
      const append = status === 206 && offset > 0;
      if (!append) received = 0;
      const len = Number(res.headers['content-length']);
      if (Number.isFinite(len)) total = received + len;
      opts.log?.info({ url, status, resumeFrom: append ? offset : 0, total }, append ? 'resuming model download' : 'downloading model');
      const out = createWriteStream(partial, { flags: append ? 'a' : 'w' });
      let lastLog = Date.now();
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        arm();
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          opts.log?.info({ url, received, total, percent: total ? Math.floor((received / total) * 100) : undefined }, 'model download progress');
        }
      });
      res.pipe(out);
      const fail = (e: Error) => {
        out.end();
        finish({ done: false, retryable: true, error: new ModelError(`download of ${url} interrupted after ${received} bytes: ${e.message}`) });
      };
      res.on('error', fail);
      res.on('aborted', () => fail(new Error('connection closed')));
      out.on('error', (e) => finish({ done: false, retryable: false, error: new ModelError(`cannot write ${partial}: ${e.message}`) }));
      out.on('finish', () => {
        if (settled) return;
        if (total !== undefined && received < total) {
          finish({ done: false, retryable: true, error: new ModelError(`download of ${url} ended early: ${received} of ${total} bytes`) });
        } else if (!res.complete) {
          finish({ done: false, retryable: true, error: new ModelError(`download of ${url} ended early after ${received} bytes`) });
        } else {
          finish({ done: true });
        }
      });
    });
    arm();
    req.on('error', (e) => finish({ done: false, retryable: true, error: new ModelError(`download of ${url} failed: ${e.message}`) }));
  });
}

/** Downloads `url` to `dest` (through `dest.partial`, resuming it). Returns `dest`. */
export async function download(url: string, dest: string, opts: DownloadOptions): Promise<string> {
  const partial = `${dest}.partial`;
  const retries = opts.retries ?? 3;
  let lastError: Error | undefined;
  for (let i = 0; i <= retries; i++) {
    const offset = existsSync(partial) ? (await stat(partial)).size : 0;
    const r = await attempt(url, partial, offset, opts);
    if (r.done) {
      await rename(partial, dest);
      return dest;
    }
    lastError = r.error;
    opts.log?.warn({ url, err: r.error.message, attempt: i + 1 }, 'model download attempt failed');
    if (!r.retryable) break;
    await new Promise((res) => setTimeout(res, Math.min(200 * 2 ** i, 2000)));
  }
  throw lastError ?? new ModelError(`download of ${url} failed`);
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
};

/** Resolves a `--model` spec to a verified local GGUF path. Throws ModelError with a clear message. */
export async function provisionModel(spec: string, opts: ProvisionOptions): Promise<string> {
  const parsed = parseModelSpec(spec);
  let path: string;
  if (parsed.kind === 'file') {
    path = parsed.path;
    if (!existsSync(path)) throw new ModelError(`model file not found: ${path}`);
  } else {
    await mkdir(opts.cacheDir, { recursive: true });
    path = cachePathFor(opts.cacheDir, parsed.url, parsed.fileName);
    if (existsSync(path)) {
      opts.log?.info({ url: parsed.url, path }, 'model found in cache');
    } else {
      await download(parsed.url, path, { stallTimeoutS: opts.stallTimeoutS, log: opts.log, retries: opts.retries });
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
