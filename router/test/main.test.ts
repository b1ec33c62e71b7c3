// `qwen-router` as the pod runs it: --help, a clear exit 2 for bad flags (and for the EndpointSlice
// source and the scaler while they are not wired in), and SIGTERM → drain → exit 0.
import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './support.ts';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'qwen-router');
const run = (args: string[]) => spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000 });

describe('qwen-router', () => {
  it('--help prints the flags and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: qwen-router/);
  });

  it.each([
    [['--upstreams=http://127.0.0.1:1', '--hold-timeout=soon'], /--hold-timeout: 'soon' is not a duration/],
    [['--workers-service=w', '--workers-port=http', '--namespace=ns', '--port=0', '--admin-port=0'], /--workers-service is not available in this build/],
  ])('%j exits 2 with the reason', (args, reason) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(reason);
  });

  it('SIGTERM drains and exits 0', async () => {
    const p = spawn(bin, [`--upstreams=http://127.0.0.1:${await freePort()}`, '--host=127.0.0.1', '--port=0', '--admin-port=0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        p.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('"msg":"listening"')) resolve(); });
        p.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
      });
      const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
      p.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('"msg":"drained"');
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  });
});
