// Proxy behaviours a real worker cannot be made to show on demand, against small node:http
// upstreams written here (the one kind of fake these tests use, each for a fault named below):
// a 503/429 before the first byte is retried once on another worker, never after the first byte;
// with no other worker the answer passes through; a client that does not read pauses the upstream
// (backpressure) instead of the router buffering the stream.
import { afterAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { routerFor, sample, until, type TestRouter } from './support.ts';

const servers: http.Server[] = [];
const routers: TestRouter[] = [];
afterAll(async () => {
  for (const r of routers) await r.drain();
  for (const s of servers) { s.closeAllConnections(); s.close(); }
});

async function upstream(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}
async function router(upstreams: string[], extra: string[] = []) {
  const r = await routerFor(upstreams, extra);
  routers.push(r);
  return r;
}
const post = (r: TestRouter) => fetch(`${r.url}/v1/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'test', messages: [{ role: 'user', content: 'hi' }] }),
});
const count = async (r: TestRouter, series: string) => sample(await r.scrape(), series) ?? 0;

const sse = (res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end('data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}\n\ndata: [DONE]\n\n');
};

describe('retry before the first byte', () => {
  it.each([
    [503, 'unavailable', 'a worker still loading or draining'],
    [429, 'overloaded', 'a worker whose queue is full'],
  ])('%d (%s: %s) is retried once on the other worker', async (status, reason) => {
    let refused = 0;
    const bad = await upstream((req, res) => { req.resume(); refused++; res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":{}}'); });
    const good = await upstream((req, res) => { req.resume(); req.on('end', () => sse(res)); });
    const r = await router([bad, good], ['--affinity=None']);
    for (let i = 0; i < 4; i++) {
      const res = await post(r);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('[DONE]');
    }
    // Least outstanding requests takes turns: two of the four went to the refusing one first.
    expect(refused).toBe(2);
    expect(await count(r, `qwen_router_retries_total{model="test",reason="${reason}"}`)).toBe(2);
    expect(await count(r, 'qwen_router_request_duration_seconds_count{model="test",error_type="",tenant="default"}')).toBe(4);
    expect(r.load.current()).toEqual({ inFlight: 0, held: 0 });
  });

  it('with no other worker the 429 passes through as it is', async () => {
    const busy = await upstream((req, res) => { req.resume(); res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' }).end('{"error":{"message":"busy","type":"x","param":null,"code":null}}'); });
    const r = await router([busy]);
    const res = await post(r);
    expect([res.status, res.headers.get('retry-after')]).toEqual([429, '7']);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('busy');
    expect(await count(r, 'qwen_router_request_duration_seconds_count{model="test",error_type="overloaded",tenant="default"}')).toBe(1);
  });

  it('never after the first byte: a worker that dies mid-stream cuts the client\'s stream', async () => {
    let calls = 0;
    // A worker process killed mid-answer (a real one cannot be killed at a chosen byte).
    const dying = () => upstream((req, res) => {
      req.resume();
      calls++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"index":0,"delta":{"content":"par"},"finish_reason":null}]}\n\n', () => setTimeout(() => res.socket!.destroy(), 50));
    });
    // Two of them: a retry would have somewhere to go.
    const r = await router([await dying(), await dying()]);
    const res = await post(r);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(calls).toBe(1);
    await until('request logged', () => r.requests().length === 1);
    expect(r.requests()[0]).toMatchObject({ status: 200, error_type: 'internal' });
    for (const reason of ['connect', 'unavailable', 'overloaded']) expect(await count(r, `qwen_router_retries_total{model="test",reason="${reason}"}`)).toBe(0);
    expect(await count(r, 'qwen_router_time_to_first_token_seconds_count{model="test",tenant="default"}')).toBe(1);
    expect(r.load.current()).toEqual({ inFlight: 0, held: 0 });
  });
});

describe('backpressure', () => {
  it('a client that does not read pauses the worker\'s stream: the router does not buffer it', async () => {
    // An upstream far faster than any model (a real worker cannot outrun a client this much):
    // it writes as long as its socket takes more, and counts what it got rid of.
    let written = 0;
    let stop = false;
    const chunk = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(16 * 1024) }, finish_reason: null }] })}\n\n`;
    const firehose = await upstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pump = () => {
        while (!stop && written < 512 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    });
    const r = await router([firehose]);
    const sock = net.connect(r.ports.port, '127.0.0.1');
    await new Promise<void>((res) => sock.once('connect', () => res()));
    const body = JSON.stringify({ model: 'test', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    sock.pause();
    await until('the upstream started', () => written > 0);
    await new Promise((res) => setTimeout(res, 1500));
    const stalled = written;
    // Socket buffers on both hops, not the whole 512 MiB.
    expect(stalled).toBeLessThan(32 * 1024 * 1024);
    // Reading resumes the flow.
    let read = 0;
    sock.on('data', (d: Buffer) => { read += d.length; });
    sock.resume();
    await until('more flows once the client reads', () => written > stalled + 8 * 1024 * 1024, 20_000);
    stop = true;
    sock.destroy();
    expect(read).toBeGreaterThan(0);
    await until('load back to 0', () => r.load.current().inFlight === 0, 10_000);
  }, 60_000);
});
