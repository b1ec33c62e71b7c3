// Reading a head over HTTP (src/sizing/remote.ts) against an in-process server: plain http is
// refused unless allowed (tests only), a server that ignores Range still gives a bounded read, an
// error status and a server that never answers end with a clear message, and no message carries
// the URL's query string. (https with a private CA and redirects: test/integration/operator/sizing.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { readRemoteFacts } from '../../../src/sizing/remote.ts';
import { qwen3Shaped4B } from '../../support/gguf-writer.ts';

const HEAD = qwen3Shaped4B();
let server: Server;
let base: string;
let served = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/whole')) {
      // Ignores Range: the whole "file" (the head, then a lot of tensor data) with a 200.
      res.writeHead(200, { 'content-length': HEAD.length + 64 * 1024 * 1024 });
      res.write(HEAD);
      const chunk = Buffer.alloc(1 << 20);
      const more = () => { while (served < 64 && res.write(chunk)) served++; if (served < 64) res.once('drain', more); else res.end(); };
      more();
      return;
    }
    if (req.url?.startsWith('/silent')) return; // never answers
    if (req.url?.startsWith('/shifted')) { res.writeHead(206, { 'content-range': `bytes 5-9/${HEAD.length}` }).end(HEAD.subarray(5, 10)); return; }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('readRemoteFacts', () => {
  it('refuses plain http unless allowed', async () => {
    await expect(readRemoteFacts(`${base}/whole?token=secret`, { timeoutMs: 5000 })).rejects.toThrow(`refusing to read the model header over http: ${base}/whole (https only)`);
  });

  it('reads the head from a server that ignores Range, without reading the rest', async () => {
    const facts = await readRemoteFacts(`${base}/whole`, { timeoutMs: 10_000, allowHttp: true });
    expect(facts).toMatchObject({ architecture: 'qwen3', layers: 36, kvHeads: 8 });
    expect(served).toBeLessThan(64);
  });

  it('says what the server answered, or that it did not, without the query string', async () => {
    await expect(readRemoteFacts(`${base}/missing?sig=secret`, { timeoutMs: 5000, allowHttp: true })).rejects.toThrow(`${base}/missing answered HTTP 404`);
    const silent = readRemoteFacts(`${base}/silent?sig=secret`, { timeoutMs: 300, allowHttp: true });
    await expect(silent).rejects.toThrow(/no answer within 300 ms/);
    await expect(silent).rejects.not.toThrow(/secret/);
    await expect(readRemoteFacts(`${base}/shifted`, { timeoutMs: 5000, allowHttp: true })).rejects.toThrow(`${base}/shifted answered bytes 5-9/${HEAD.length} to a request for bytes 0-`);
  });
});
