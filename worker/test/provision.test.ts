// Model provisioning against local HTTPS (a throwaway self-signed certificate) and HTTP servers
// that serve the real test model and small synthetic files: https only unless allowed, no
// downgrade by redirect, resume after an interrupted download checked against Content-Range /
// ETag / Last-Modified, replicas sharing one cache directory, stall timeout, SHA-256 mismatch,
// corrupt and truncated files, URLs never reported with their credentials or query string.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { download, ModelError, redactUrl, sha256File } from '../src/model-source.ts';
import { startWorker, TEST_MODEL_SHA256, testModelPath } from './support.ts';

jest.setTimeout(60_000);

let dir: string;
let certFile: string;
let ca: Buffer;
let server: http.Server;
let tlsServer: https.Server;
/** http://127.0.0.1:port */
let base: string;
/** https://127.0.0.1:port */
let sbase: string;
const requests: { path: string; range: string | undefined; ifRange: string | undefined }[] = [];
let interruptedOnce = false;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
/** Routes a test adds for itself. */
const routes = new Map<string, Handler>();

type Resource = { body: Buffer; etag?: string; lastModified?: string };

/**
 * Serves `r` with Range support (If-Range honoured unless told otherwise). `interruptAt` drops
 * the connection after that many bytes; `wrongStart` answers a range with one starting at 0;
 * `slow` sends 64 KiB every 10 ms.
 */
function serve(req: http.IncomingMessage, res: http.ServerResponse, r: Resource,
  o: { honorIfRange?: boolean; interruptAt?: number; wrongStart?: boolean; slow?: boolean } = {}): void {
  const size = r.body.length;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let start = m ? Number(m[1]) : 0;
  const ifRange = req.headers['if-range'];
  if (m && (o.honorIfRange ?? true) && ifRange !== undefined && ifRange !== r.etag && ifRange !== r.lastModified) start = 0;
  const headers: Record<string, string | number> = {};
  if (r.etag) headers.etag = r.etag;
  if (r.lastModified) headers['last-modified'] = r.lastModified;
  if (m && start >= size) {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  if (start > 0) {
    if (o.wrongStart) start = 0;
    res.writeHead(206, { ...headers, 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}` });
  } else {
    res.writeHead(200, { ...headers, 'content-length': size });
  }
  const end = o.interruptAt ?? size;
  let pos = start;
  const step = () => {
    if (res.destroyed) return;
    if (pos >= end) {
      res.end();
      return;
    }
    const next = Math.min(end, pos + (o.slow ? 64 * 1024 : size));
    // An interruption drops the connection once the bytes before it have left.
    if (next === end && end < size) { res.write(r.body.subarray(pos, next), () => res.destroy()); return; }
    res.write(r.body.subarray(pos, next));
    pos = next;
    if (o.slow) setTimeout(step, 10);
    else step();
  };
  step();
}

const handler: Handler = (req, res) => {
  const range = req.headers.range;
  const path = req.url!.split('?')[0]!;
  requests.push({ path, range, ifRange: req.headers['if-range'] as string | undefined });
  const route = routes.get(path);
  if (route) { route(req, res); return; }
  const model = testModelPath();
  const size = statSync(model).size;
  const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
  const start = m ? Number(m[1]) : 0;
  if (path.startsWith('/stall/')) {
    // Headers and a first chunk, then silence.
    res.writeHead(200, { 'content-length': size });
    res.write(Buffer.alloc(1024));
    return;
  }
  if (path === '/interrupt/model.gguf' && !interruptedOnce) {
    // Half the file, then the connection drops.
    interruptedOnce = true;
    res.writeHead(200, { 'content-length': size });
    const half = createReadStream(model, { start: 0, end: Math.floor(size / 2) - 1 });
    half.pipe(res, { end: false });
    half.on('end', () => setTimeout(() => res.destroy(), 20));
    return;
  }
  if (path === '/interrupt/model.gguf' || path === '/ok/model.gguf') {
    res.writeHead(m ? 206 : 200, { 'content-length': size - start, ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}) });
    createReadStream(model, { start }).pipe(res);
    return;
  }
  if (path === '/to-http/model.gguf') {
    res.writeHead(302, { location: `${base}/ok/model.gguf` }).end();
    return;
  }
  res.writeHead(404).end();
};

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const partialsIn = async (d: string) => (await readdir(d)).filter((n) => n.includes('.partial'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-worker-provision-'));
  // A throwaway self-signed certificate for 127.0.0.1 (the system's openssl, as test/cluster/pki.ts).
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
  { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  certFile = join(dir, 'tls.crt');
  ca = readFileSync(certFile);
  server = http.createServer(handler);
  tlsServer = https.createServer({ key: readFileSync(join(dir, 'tls.key')), cert: ca }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sbase = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of [server, tlsServer]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await rm(dir, { recursive: true, force: true });
});

describe('download', () => {
  it('resumes an interrupted download with a Range request and verifies the result', async () => {
    const dest = join(dir, 'resumed.gguf');
    await download(`${base}/interrupt/model.gguf`, dest, { stallTimeoutS: 10, allowHttp: true });
    const hits = requests.filter((r) => r.path === '/interrupt/model.gguf');
    expect(hits.length).toBe(2);
    expect(hits[0]!.range).toBeUndefined();
    expect(hits[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(hits[1]!.range!)![0])).toBeGreaterThan(0);
    expect((await readdir(dir)).filter((n) => n.startsWith('resumed.gguf.'))).toEqual([]);
    expect(await sha256File(dest)).toBe(TEST_MODEL_SHA256);
  }, 60_000);

  it('fails with a clear message when no byte arrives for the stall timeout', async () => {
    const t0 = Date.now();
    const p = download(`${base}/stall/model.gguf`, join(dir, 'stalled.gguf'), { stallTimeoutS: 0.5, allowHttp: true });
    await expect(p).rejects.toThrow(ModelError);
    await expect(p).rejects.toThrow(/download stalled: no byte received for 0.5s .*1024 of \d+ bytes/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('transport: https only', () => {
  const small: Resource = { body: randomBytes(256 * 1024), etag: '"small-1"' };
  beforeAll(() => { routes.set('/small.bin', (req, res) => serve(req, res, small)); });

  it('downloads over https (the server certificate checked against the given CA)', async () => {
    const dest = join(dir, 'tls', 'small.bin');
    await mkdir(dirname(dest), { recursive: true });
    await download(`${sbase}/small.bin`, dest, { stallTimeoutS: 10, ca });
    expect(sha(await readFile(dest))).toBe(sha(small.body));
    // Without trusting that CA the TLS handshake fails.
    await expect(download(`${sbase}/small.bin`, join(dir, 'tls', 'untrusted.bin'), { stallTimeoutS: 10, retries: 0 })).rejects.toThrow(/self-signed|certificate/);
  });

  it('refuses plain http unless allowed', async () => {
    const before = requests.length;
    await expect(download(`${base}/small.bin`, join(dir, 'plain.bin'), { stallTimeoutS: 10 }))
      .rejects.toThrow(/refusing to download over plain http: http:\/\/127\.0\.0\.1:\d+\/small\.bin \(use https:\/\/, or --allow-http-download\)/);
    expect(requests.length).toBe(before);
    await download(`${base}/small.bin`, join(dir, 'plain.bin'), { stallTimeoutS: 10, allowHttp: true });
    expect(existsSync(join(dir, 'plain.bin'))).toBe(true);
  });

  it('never follows a redirect from https to http, even when http is allowed', async () => {
    const before = requests.length;
    await expect(download(`${sbase}/to-http/model.gguf`, join(dir, 'downgraded.gguf'), { stallTimeoutS: 10, ca, allowHttp: true }))
      .rejects.toThrow(/refusing the redirect from https:\/\/127\.0\.0\.1:\d+\/to-http\/model\.gguf to plain http/);
    expect(requests.slice(before).map((r) => r.path)).toEqual(['/to-http/model.gguf']);
  });

  it('reports URLs without credentials or query string', () => {
    expect(redactUrl('https://user:pa55@host.test:8443/a/m.gguf?X-Amz-Signature=abc&token=t#frag')).toBe('https://host.test:8443/a/m.gguf');
  });
});

describe('resuming checks that the file did not change', () => {
  const A = randomBytes(1 << 20);
  const B = randomBytes(1 << 20);
  const C = randomBytes(3 << 19);
  const cases: [string, Resource, Resource, { honorIfRange?: boolean; wrongStart?: boolean }, RegExp | undefined][] = [
    // A server that honours If-Range answers 200 with the new file.
    ['ETag changed, If-Range honoured', { body: A, etag: '"a"' }, { body: B, etag: '"b"' }, {}, undefined],
    // One that ignores If-Range (a proxy, a CDN) answers 206 for the new file: caught by the ETag.
    ['ETag changed, If-Range ignored', { body: A, etag: '"a"' }, { body: B, etag: '"b"' }, { honorIfRange: false }, /the ETag changed/],
    ['Last-Modified changed, If-Range ignored', { body: A, lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' }, { body: B, lastModified: 'Tue, 02 Jan 2024 00:00:00 GMT' }, { honorIfRange: false }, /Last-Modified changed/],
    ['size changed, no validators', { body: A }, { body: C }, {}, /size changed/],
    ['a range that starts elsewhere', { body: A, etag: '"a"' }, { body: A, etag: '"a"' }, { wrongStart: true }, /Content-Range starts at 0/],
  ];

  it.each(cases)('%s: restarts from zero and ends with the current file', async (name, first, second, opts, reason) => {
    const path = `/changing/${encodeURIComponent(name)}.bin`;
    let n = 0;
    routes.set(path, (req, res) => {
      n++;
      if (n === 1) serve(req, res, first, { interruptAt: first.body.length / 2 });
      else serve(req, res, second, opts);
    });
    const d = join(dir, `changing-${n}-${Math.random().toString(36).slice(2)}`);
    await mkdir(d);
    const dest = join(d, 'file.bin');
    const warnings: string[] = [];
    const log = { info: () => undefined, warn: (o: { reason?: string; err?: string }) => warnings.push(o.reason ?? o.err ?? '') } as never;
    await download(`${base}${path}`, dest, { stallTimeoutS: 10, allowHttp: true, log });
    expect(sha(await readFile(dest))).toBe(sha(second.body));
    const hits = requests.filter((r) => r.path === path);
    // Resumed where the bytes on disk end (those still in flight when the connection dropped are lost).
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(hits[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(first.body.length / 2);
    expect(hits[1]!.ifRange).toBe(first.etag ?? first.lastModified);
    if (reason) {
      expect(warnings.some((w) => reason.test(w))).toBe(true);
      expect(hits.at(-1)!.range).toBeUndefined();
    }
    expect(await partialsIn(d)).toEqual([]);
  });
});

describe('replicas sharing one cache directory', () => {
  const body = randomBytes(4 << 20);
  const res: Resource = { body, etag: '"shared"' };
  beforeAll(() => { routes.set('/shared.bin', (req, r) => serve(req, r, res, { slow: true })); });

  it('a second replica waits for the first one\'s download instead of writing the same file', async () => {
    const d = join(dir, 'shared-wait');
    await mkdir(d);
    const dest = join(d, 'model.bin');
    const before = requests.filter((r) => r.path === '/shared.bin').length;
    const first = download(`${base}/shared.bin`, dest, { stallTimeoutS: 10, allowHttp: true });
    // The second starts once the first one's partial file exists.
    for (let i = 0; i < 200 && (await partialsIn(d)).filter((n) => n.endsWith('.partial')).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await partialsIn(d)).some((n) => /^model\.bin\.[0-9a-f]{12}\.partial$/.test(n))).toBe(true);
    const second = download(`${base}/shared.bin`, dest, { stallTimeoutS: 10, allowHttp: true, pollMs: 20 });
    await Promise.all([first, second]);
    expect(requests.filter((r) => r.path === '/shared.bin').length - before).toBe(1);
    expect(sha(await readFile(dest))).toBe(sha(body));
    expect(await partialsIn(d)).toEqual([]);
  });

  it('replicas that start together each write their own file; the result is whole', async () => {
    const d = join(dir, 'shared-race');
    await mkdir(d);
    const dest = join(d, 'model.bin');
    await Promise.all([1, 2, 3].map(() => download(`${base}/shared.bin`, dest, { stallTimeoutS: 10, allowHttp: true, pollMs: 20 })));
    expect(sha(await readFile(dest))).toBe(sha(body));
    expect(await partialsIn(d)).toEqual([]);
  });

  it('a partial file left by a replica that is gone is adopted and resumed', async () => {
    const d = join(dir, 'shared-adopt');
    await mkdir(d);
    const dest = join(d, 'model.bin');
    const left = `${dest}.0123456789ab.partial`;
    const half = body.length / 2;
    await writeFile(left, body.subarray(0, half));
    await writeFile(`${left}.json`, JSON.stringify({ etag: '"shared"', total: body.length }));
    const old = new Date(Date.now() - 120_000);
    await utimes(left, old, old);
    const before = requests.length;
    await download(`${base}/shared.bin`, dest, { stallTimeoutS: 10, allowHttp: true });
    const hits = requests.slice(before).filter((r) => r.path === '/shared.bin');
    expect(hits.map((h) => [h.range, h.ifRange])).toEqual([[`bytes=${half}-`, '"shared"']]);
    expect(sha(await readFile(dest))).toBe(sha(body));
    expect(await partialsIn(d)).toEqual([]);
  });

  it('a complete partial file left behind (answered 416 for its size) is kept, not downloaded again', async () => {
    const d = join(dir, 'shared-complete');
    await mkdir(d);
    const dest = join(d, 'model.bin');
    const left = `${dest}.ba9876543210.partial`;
    await writeFile(left, body);
    await writeFile(`${left}.json`, JSON.stringify({ etag: '"shared"', total: body.length }));
    const old = new Date(Date.now() - 120_000);
    await utimes(left, old, old);
    const before = requests.length;
    await download(`${base}/shared.bin`, dest, { stallTimeoutS: 10, allowHttp: true });
    expect(requests.slice(before).map((h) => h.range)).toEqual([`bytes=${body.length}-`]);
    expect(sha(await readFile(dest))).toBe(sha(body));
    expect(await partialsIn(d)).toEqual([]);
  });
});

describe('qwen-worker startup failures exit non-zero with a clear message', () => {
  const failing = async (args: string[], env: Record<string, string> = {}) => {
    const w = await startWorker(['--cache-dir', join(dir, 'cache'), '--gpu', 'false', ...args], { waitReady: false, env });
    const code = await w.exited;
    return { code, stderr: w.stderr(), logs: w.logs };
  };

  it('stalled download (http explicitly allowed); the URL reported without credentials or query', async () => {
    const terminationLog = join(dir, 'termination-log-stall');
    const secretUrl = `${base.replace('http://', 'http://alice:pa55word@')}/stall/model.gguf?token=SECRET-TOKEN`;
    const r = await failing(['--model', secretUrl, '--download-stall-timeout', '0.5', '--allow-http-download'], { QWEN_TERMINATION_LOG: terminationLog });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`download stalled: no byte received for 0.5s from ${base}/stall/model.gguf \\(`));
    const termination = await readFile(terminationLog, 'utf8');
    expect(termination).toMatch(/download stalled/);
    for (const text of [r.stderr, termination, JSON.stringify(r.logs)]) {
      expect(text).not.toContain('SECRET-TOKEN');
      expect(text).not.toContain('pa55word');
    }
  }, 30_000);

  it('plain http without --allow-http-download', async () => {
    const before = requests.length;
    const r = await failing(['--model', `${base}/ok/model.gguf`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to download over plain http: http:\/\/127\.0\.0\.1:\d+\/ok\/model\.gguf \(use https:\/\/, or --allow-http-download\)/);
    expect(requests.length).toBe(before);
  }, 30_000);

  it('SHA-256 mismatch', async () => {
    const r = await failing(['--model', testModelPath(), '--model-sha256', '0'.repeat(64)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`SHA-256 mismatch .*expected 0{64}, got ${TEST_MODEL_SHA256}`));
  }, 30_000);

  it('truncated GGUF', async () => {
    const truncated = join(dir, 'truncated.gguf');
    await writeFile(truncated, (await readFile(testModelPath())).subarray(0, 4 * 1024 * 1024));
    const r = await failing(['--model', truncated]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/truncated GGUF|corrupt GGUF/);
  }, 30_000);

  it('not a GGUF file', async () => {
    const junk = join(dir, 'junk.gguf');
    await writeFile(junk, 'this is not a model\n'.repeat(100));
    const r = await failing(['--model', junk]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a GGUF file/);
  }, 30_000);

  it('missing file (and says why in the Kubernetes termination message)', async () => {
    const terminationLog = join(dir, 'termination-log');
    const r = await failing(['--model', join(dir, 'nope.gguf')], { QWEN_TERMINATION_LOG: terminationLog });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model file not found/);
    expect(await readFile(terminationLog, 'utf8')).toMatch(/model file not found/);
  }, 30_000);

  it('downloads over HTTPS into the cache, verifies the SHA-256 and serves', async () => {
    const w = await startWorker(['--cache-dir', join(dir, 'cache'), '--gpu', 'false', '--model', `${sbase}/ok/model.gguf?sig=SECRET-SIG`,
      '--model-sha256', TEST_MODEL_SHA256, '--context-size', '256'], { env: { NODE_EXTRA_CA_CERTS: certFile } });
    try {
      const r = await fetch(`${w.url}/v1/models`);
      expect(((await r.json()) as { data: { id: string }[] }).data[0]!.id).toBe('model');
      const cached = w.logs.find((l) => l.msg === 'ready')!.modelPath as string;
      expect(cached.startsWith(join(dir, 'cache'))).toBe(true);
      expect((await stat(cached)).size).toBe(statSync(testModelPath()).size);
      expect((await partialsIn(dirname(cached))).filter((n) => n.startsWith(basename(cached)))).toEqual([]);
      expect(basename(cached)).toMatch(/^[0-9a-f]{16}-model\.gguf$/);
      expect(w.logs.some((l) => l.msg === 'downloading model' && l.url === `${sbase}/ok/model.gguf`)).toBe(true);
      expect(JSON.stringify(w.logs)).not.toContain('SECRET-SIG');
    } finally {
      expect(await w.stop()).toBe(0);
    }
  }, 90_000);
});
