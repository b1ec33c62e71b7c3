// Helpers of the router tests: a router in this process (its logs collected), free ports, metrics.
import net from 'node:net';
import { pino } from 'pino';
import { parseConfig } from '../src/config.ts';
import { staticEndpoints } from '../src/endpoints.ts';
import { startRouter, type Router } from '../src/router.ts';

export { sample, startWorker, testModelPath, type WorkerProc } from '../../worker/test/support.ts';

export type LogLine = Record<string, unknown> & { msg: string };

export type TestRouter = Omit<Router, never> & { url: string; admin: string; lines: LogLine[]; scrape: () => Promise<string>; requests: () => LogLine[] };

/** A router on 127.0.0.1 (ports 0) in front of `upstreams`, with `extra` flags; ejected upstreams are probed every 100 ms. */
export async function routerFor(upstreams: string[], extra: string[] = []): Promise<TestRouter> {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as LogLine); } });
  const config = parseConfig(['--host=127.0.0.1', '--port=0', '--admin-port=0', `--upstreams=${upstreams.join(',')}`, '--model-name=test', '--drain-timeout=2', ...extra]);
  const r = await startRouter(config, staticEndpoints(upstreams), log, { probeIntervalMs: 100 });
  const admin = `http://127.0.0.1:${r.ports.adminPort}`;
  return {
    ...r, lines, admin, url: `http://127.0.0.1:${r.ports.port}`,
    scrape: async () => (await fetch(`${admin}/metrics`)).text(),
    requests: () => lines.filter((l) => l.msg === 'request'),
  };
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
