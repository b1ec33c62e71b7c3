// Helpers for the worker tests: the cached test model and a real `qwen-worker` child process.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const workerDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator');
export const TEST_MODEL_SHA256 = 'a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818';

export function testModelPath(): string {
  const p = join(cacheDir, 'models', 'gemma-3-270m-q4_k_m.gguf');
  if (!existsSync(p)) throw new Error(`test model missing at ${p}: run worker/scripts/setup.sh (or scripts/setup.sh)`);
  return p;
}

export function promtoolPath(): string {
  const cached = join(process.env.QWEN_BIN ?? join(cacheDir, 'bin'), 'promtool');
  if (existsSync(cached)) return cached;
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, 'promtool'))) return join(d, 'promtool');
  throw new Error('promtool not found in the cache bin dir nor on PATH: run scripts/setup.sh (apt-get install prometheus)');
}

export type LogLine = Record<string, unknown> & { msg?: string };

export type WorkerProc = {
  proc: ChildProcess;
  url: string;
  port: number;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop: () => Promise<number | null>;
};

/**
 * Starts `bin/qwen-worker` with `--port 0` and waits for its 'listening' line (and, unless
 * `waitReady` is false, for /readyz to answer 200).
 */
export async function startWorker(args: string[], { waitReady = true, timeoutMs = 60_000, env = {} as Record<string, string> } = {}): Promise<WorkerProc> {
  const proc = spawn(join(workerDir, 'bin', 'qwen-worker'), ['--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs: LogLine[] = [];
  let err = '';
  let buf = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const listening = new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const j = JSON.parse(line) as LogLine;
          logs.push(j);
          if (j.msg === 'listening; loading model') resolve(j.port as number);
        } catch { /* not JSON */ }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before listening: ${err}`)));
  });
  const port = await listening;
  const url = `http://127.0.0.1:${port}`;
  const w: WorkerProc = {
    proc, url, port, logs, exited, stderr: () => err,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  if (waitReady) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`worker exited (${proc.exitCode}): ${err}`);
      const r = await fetch(`${url}/readyz`).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('worker not ready in time'); }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return w;
}

/**
 * The event loop's delay as each scrape reported it (the worker's nodejs_eventloop_lag_* gauges
 * cover the time since the previous scrape, so together these cover a test file's run).
 */
export const eventLoopLagSeen: { p99: number; max: number }[] = [];

export async function metricsText(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const p99 = sample(text, 'nodejs_eventloop_lag_p99_seconds');
  const max = sample(text, 'nodejs_eventloop_lag_max_seconds');
  if (p99 !== undefined && max !== undefined) eventLoopLagSeen.push({ p99, max });
  return text;
}

/** Value of one sample line of the exposition text, e.g. sample(t, 'x_count{model="m",error_type=""}'). */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

export type RawReply = {
  /** Everything the server sent before it closed the connection. */
  text: string;
  /** Status of the first response, undefined when none came. */
  status: number | undefined;
  /** Body of the first response (after the blank line). */
  body: string;
  /** ms from connect to the server closing the connection. */
  closedAfterMs: number;
};

/**
 * Writes raw bytes to the worker over a plain TCP socket (nothing like fetch in between, so
 * malformed or incomplete requests reach the server as they are) and collects what comes back
 * until the server closes the connection.
 */
export function rawRequest(port: number, data: string | Buffer, { timeoutMs = 30_000 } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`server kept the connection open for ${timeoutMs} ms`)); }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => { /* a reset after the answer is fine: 'close' follows */ });
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      const i = text.indexOf('\r\n\r\n');
      resolve({ text, status: m ? Number(m[1]) : undefined, body: i >= 0 ? text.slice(i + 4) : '', closedAfterMs: Date.now() - t0 });
    });
  });
}
