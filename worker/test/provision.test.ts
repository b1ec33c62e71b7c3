// Model provisioning against a local HTTP server that serves the real test model: resume after an
// interrupted download, stall timeout, SHA-256 mismatch, corrupt and truncated files.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { download, ModelError, sha256File } from '../src/model-source.ts';
import { startWorker, TEST_MODEL_SHA256, testModelPath } from './support.ts';

jest.setTimeout(60_000);

let dir: string;
let server: http.Server;
let base: string;
const requests: { path: string; range: string | undefined }[] = [];
let interruptedOnce = false;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qwen-worker-provision-'));
  const model = testModelPath();
  const size = statSync(model).size;
  server = http.createServer((req, res) => {
    const range = req.headers.range;
    requests.push({ path: req.url!, range });
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    if (req.url === '/stall/model.gguf') {
      // Headers and a first chunk, then silence.
      res.writeHead(200, { 'content-length': size });
      res.write(Buffer.alloc(1024));
      return;
    }
    if (req.url === '/interrupt/model.gguf' && !interruptedOnce) {
      // Half the file, then the connection drops.
      interruptedOnce = true;
      res.writeHead(200, { 'content-length': size });
      const half = createReadStream(model, { start: 0, end: Math.floor(size / 2) - 1 });
      half.pipe(res, { end: false });
      half.on('end', () => setTimeout(() => res.destroy(), 20));
      return;
    }
    if (req.url === '/interrupt/model.gguf' || req.url === '/ok/model.gguf') {
      res.writeHead(m ? 206 : 200, { 'content-length': size - start, ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}) });
      createReadStream(model, { start }).pipe(res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('download', () => {
  it('resumes an interrupted download with a Range request and verifies the result', async () => {
    const dest = join(dir, 'resumed.gguf');
    await download(`${base}/interrupt/model.gguf`, dest, { stallTimeoutS: 10 });
    const hits = requests.filter((r) => r.path === '/interrupt/model.gguf');
    expect(hits.length).toBe(2);
    expect(hits[0]!.range).toBeUndefined();
    expect(hits[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(hits[1]!.range!)![0])).toBeGreaterThan(0);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    expect(await sha256File(dest)).toBe(TEST_MODEL_SHA256);
  }, 60_000);

  it('fails with a clear message when no byte arrives for the stall timeout', async () => {
    const t0 = Date.now();
    const p = download(`${base}/stall/model.gguf`, join(dir, 'stalled.gguf'), { stallTimeoutS: 0.5 });
    await expect(p).rejects.toThrow(ModelError);
    await expect(p).rejects.toThrow(/download stalled: no byte received for 0.5s .*1024 of \d+ bytes/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('qwen-worker startup failures exit non-zero with a clear message', () => {
  const failing = async (args: string[]) => {
    const w = await startWorker(['--cache-dir', join(dir, 'cache'), '--gpu', 'false', ...args], { waitReady: false });
    const code = await w.exited;
    return { code, stderr: w.stderr() };
  };

  it('stalled download', async () => {
    const r = await failing(['--model', `${base}/stall/model.gguf`, '--download-stall-timeout', '0.5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/download stalled: no byte received for 0.5s/);
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
    process.env.QWEN_TERMINATION_LOG = terminationLog;
    const r = await failing(['--model', join(dir, 'nope.gguf')]).finally(() => { delete process.env.QWEN_TERMINATION_LOG; });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model file not found/);
    expect(await readFile(terminationLog, 'utf8')).toMatch(/model file not found/);
  }, 30_000);

  it('downloads over HTTP into the cache, verifies the SHA-256 and serves', async () => {
    const w = await startWorker(['--cache-dir', join(dir, 'cache'), '--gpu', 'false', '--model', `${base}/ok/model.gguf`,
      '--model-sha256', TEST_MODEL_SHA256, '--context-size', '256']);
    try {
      const r = await fetch(`${w.url}/v1/models`);
      expect(((await r.json()) as { data: { id: string }[] }).data[0]!.id).toBe('model');
      const cached = w.logs.find((l) => l.msg === 'ready')!.modelPath as string;
      expect(cached.startsWith(join(dir, 'cache'))).toBe(true);
      expect((await stat(cached)).size).toBe(statSync(testModelPath()).size);
    } finally {
      expect(await w.stop()).toBe(0);
    }
  }, 90_000);
});
