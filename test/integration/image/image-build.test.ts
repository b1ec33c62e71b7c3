// Performs the Dockerfile's own build steps (scripts/image-build.sh, the one script its RUN lines
// call) on a copy of exactly what the Dockerfile COPYs, into a staging root, then runs each
// target's entrypoint from there. No container runtime is needed (none exists on CI machines).
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { cacheDir } from '../../support/tools.ts';

const dockerfile = DockerfileParser.parse(readFileSync('Dockerfile', 'utf8'));

/** The context files a build stage COPYs, copied into a fresh directory (the stage's WORKDIR). */
function stageContext(stage: string): string {
  const ins = dockerfile.getInstructions();
  const start = ins.findIndex((i) => i.getKeyword() === 'FROM' && i.getTextContent().trim().endsWith(` ${stage}`));
  const end = ins.findIndex((i, n) => n > start && i.getKeyword() === 'FROM');
  const dir = mkdtempSync(join(tmpdir(), `qwen-image-${stage}-`));
  for (const copy of ins.slice(start + 1, end).filter((i) => i.getKeyword() === 'COPY')) {
    const parts = copy.getArguments().map((a) => a.getValue());
    const dest = parts.pop()!;
    for (const src of parts) {
      const target = dest.endsWith('/') || parts.length > 1 ? join(dir, dest, src.split('/').pop()!) : join(dir, dest === './' ? src : dest);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(src, target, { recursive: true, filter: (p) => !/node_modules|\/dist(\/|$)/.test(p) });
    }
  }
  return dir;
}

function build(stage: string, target: string): string {
  const ctx = stageContext(stage);
  const out = join(ctx, 'out');
  execFileSync('bash', ['scripts/image-build.sh', target, out], { cwd: ctx, stdio: ['ignore', 'pipe', 'pipe'] });
  return join(out, 'app');
}

describe('image build steps', () => {
  it('operator: compiled JS with production dependencies only; `--help` and `crd` run', () => {
    const app = build('operator-build', 'operator');
    const help = spawnSync(process.execPath, [join(app, 'dist/src/cli.js'), '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: qwen-operator');
    const crd = spawnSync(process.execPath, [join(app, 'dist/src/cli.js'), 'crd'], { encoding: 'utf8' });
    expect(crd.stdout).toBe(readFileSync('crds/qwenops.io_qwenservices.yaml', 'utf8'));
    const modules = execFileSync('ls', [join(app, 'node_modules')], { encoding: 'utf8' }).split('\n');
    expect(modules).toEqual(expect.arrayContaining(['@kubernetes', 'zod', 'pino', 'js-yaml', 'prom-client']));
    for (const dev of ['jest', 'typescript', 'eslint', '@swc', '@jest']) expect(modules).not.toContain(dev);
  }, 240_000);
});

describe('worker image build steps', () => {
  it('worker-cpu: compiled, CPU prebuilt only, loads the test model and answers /readyz', async () => {
    const app = build('worker-cpu-build', 'worker-cpu');
    const prebuilt = execFileSync('ls', [join(app, 'node_modules/@node-llama-cpp')], { encoding: 'utf8' }).trim().split('\n');
    expect(prebuilt).toEqual(['linux-x64']);
    const model = join(cacheDir, 'models/gemma-3-270m-q4_k_m.gguf');
    const port = 19000 + Math.floor(Math.random() * 1000);
    const worker = spawn(process.execPath, [join(app, 'dist/src/main.js'), '--model', model, '--host', '127.0.0.1', '--port', String(port), '--gpu', 'false', '--context-size', '256'], { stdio: 'ignore' });
    try {
      let ready = false;
      for (let i = 0; i < 600 && !ready && worker.exitCode === null; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready).toBe(true);
    } finally {
      worker.kill('SIGTERM');
    }
  }, 300_000);
});
