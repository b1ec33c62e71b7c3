// Running promtool from tests: every promtool generation present (the current one built into the
// tool cache and Debian's 2.42), so the rules are proven on both Prometheus 2 and 3 semantics.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { binDir } from '../support/tools.ts';

export type Promtool = { name: string; path: string };

/** The promtools to run with; throws (failing the suite clearly) when there is none. */
export function promtools(): Promtool[] {
  const candidates: Promtool[] = [
    { name: 'promtool (current)', path: join(binDir, 'promtool') },
    { name: 'promtool (Debian 2.42)', path: existsSync(join(binDir, 'promtool-debian')) ? join(binDir, 'promtool-debian') : '/usr/bin/promtool' },
  ];
  const found = candidates.filter((c) => existsSync(c.path));
  if (!found.length) throw new Error(`no promtool found (looked for ${candidates.map((c) => c.path).join(', ')}): run scripts/setup.sh or test/tools/build.sh`);
  return found;
}

export function run(path: string, args: string[], cwd?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(path, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `qwen-${prefix}-`));
}

export function writeYaml(dir: string, name: string, doc: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, dump(doc, { lineWidth: -1, noRefs: true }));
  return p;
}
