// Reading a model's GGUF head where it is published, with HTTP range requests: the bytes of the
// head only (bounded by the reader's budget), each request bounded in time, https only (plain
// http only where a test allows it; never a redirect from https to http), and URLs reported
// without their credentials or query string. `hf:owner/repo:QUANT` names a file by the
// convention the worker downloads it by (worker/src/model-source.ts hfUrl, written again here:
// src/ imports nothing of worker/).
import http from 'node:http';
import https from 'node:https';
import { redactModelSource } from '../api/model-source.ts';
import { DEFAULT_GGUF_LIMITS, GgufError, readGgufHead, type GgufLimits } from './gguf.ts';
import { modelFacts, type ModelFacts } from './facts.ts';

export const HF_ENDPOINT = 'https://huggingface.co';

/** The URL a model source is downloaded from; undefined for sources only a worker can read (pvc://, file://). */
export function sourceURL(source: string, hfEndpoint = HF_ENDPOINT): string | undefined {
  if (source.startsWith('hf:')) {
    const rest = source.slice('hf:'.length);
    const explicit = /^([\w.-]+)\/([\w.-]+)\/(.+\.gguf)$/i.exec(rest);
    if (explicit) return `${hfEndpoint}/${explicit[1]}/${explicit[2]}/resolve/main/${explicit[3]!.split('/').map(encodeURIComponent).join('/')}`;
    const m = /^([\w.-]+)\/([\w.-]+):([\w.-]+)$/.exec(rest);
    if (!m) return undefined;
    return `${hfEndpoint}/${m[1]}/${m[2]}/resolve/main/${m[2]!.replace(/-GGUF$/i, '')}-${m[3]}.gguf`;
  }
  return /^https?:\/\//i.test(source) ? source : undefined;
}

export type FetchOptions = {
  /** Per request, from sending it to the last byte (ms). */
  timeoutMs: number;
  /** Trusted CA certificates (tests; in a pod NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
  /** Plain http:// (tests only). */
  allowHttp?: boolean;
  limits?: GgufLimits;
};

export const DEFAULT_FETCH_OPTIONS: FetchOptions = { timeoutMs: 30_000 };
const MAX_REDIRECTS = 5;

/** `length` bytes of `url` from `offset`: a 206 answer, or the start of a 200 one (a server that ignores Range), cut at `length`. */
function fetchRange(url: string, offset: number, length: number, opts: FetchOptions, redirects = 0): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try { u = new URL(url); } catch { reject(new GgufError(`cannot parse the model URL ${redactModelSource(url)}`)); return; }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.allowHttp)) {
      reject(new GgufError(`refusing to read the model header over ${u.protocol.replace(':', '')}: ${redactModelSource(url)} (https only)`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(u, { headers: { range: `bytes=${offset}-${offset + length - 1}`, 'user-agent': 'qwen-operator' }, ...(opts.ca ? { ca: opts.ca } : {}), timeout: opts.timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) { reject(new GgufError(`too many redirects reading ${redactModelSource(url)}`)); return; }
        const next = new URL(res.headers.location, u).href;
        if (u.protocol === 'https:' && !next.startsWith('https:')) { reject(new GgufError(`refusing the redirect from ${redactModelSource(url)} to ${redactModelSource(next)}: https only`)); return; }
        fetchRange(next, offset, length, opts, redirects + 1).then(resolve, reject);
        return;
      }
      if (status === 416) { res.resume(); resolve(new Uint8Array(0)); return; }
      if (status !== 206 && status !== 200) { res.resume(); reject(new GgufError(`${redactModelSource(url)} answered HTTP ${status}`)); return; }
      const range = /^bytes (\d+)-/.exec(res.headers['content-range'] ?? '');
      if (status === 206 && Number(range?.[1]) !== offset) {
        res.resume();
        reject(new GgufError(`${redactModelSource(url)} answered ${res.headers['content-range'] ?? '(no Content-Range)'} to a request for bytes ${offset}-`));
        return;
      }
      // A 200 carries the file from its start: skip to the offset, and stop at length either way.
      let skip = status === 200 ? offset : 0;
      const chunks: Buffer[] = [];
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        if (skip > 0) {
          const drop = Math.min(skip, chunk.length);
          chunk = chunk.subarray(drop);
          skip -= drop;
        }
        const take = chunk.subarray(0, length - got);
        chunks.push(take);
        got += take.length;
        if (got >= length) { res.destroy(); finish(); }
      });
      let done = false;
      const finish = () => { if (!done) { done = true; clearTimeout(deadline); resolve(Buffer.concat(chunks)); } };
      res.on('end', finish);
      res.on('error', (e) => { if (!done) { done = true; clearTimeout(deadline); reject(new GgufError(`reading ${redactModelSource(url)}: ${e.message}`)); } });
      const deadline = setTimeout(() => { done = true; res.destroy(); reject(new GgufError(`reading ${redactModelSource(url)} took longer than ${opts.timeoutMs} ms`)); }, opts.timeoutMs);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof GgufError ? e : new GgufError(`reading ${redactModelSource(url)}: ${e.message}`)));
  });
}

/** The facts of the model at `url`, from its head only. */
export async function readRemoteFacts(url: string, opts: FetchOptions = DEFAULT_FETCH_OPTIONS): Promise<ModelFacts> {
  return modelFacts(await readGgufHead((offset, length) => fetchRange(url, offset, length, opts), opts.limits ?? DEFAULT_GGUF_LIMITS));
}
