import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dump } from 'js-yaml';
import { invalidCases, documentOf } from '../../fixtures/invalid-qwenservices.ts';

// The CLI is run as users run it: the bin shim on the pinned Node 24.
function cli(args: string[], input?: string) {
  const r = spawnSync('bin/qwen-operator', args, { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('qwen-operator CLI', () => {
  it('crd prints the checked-in CRD', () => {
    const r = cli(['crd']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync('crds/qwenops.io_qwenservices.yaml', 'utf8'));
  });

  it('validate accepts every example', () => {
    const files = readdirSync('manifests/examples').filter((f) => f.endsWith('.yaml')).flatMap((f) => ['-f', `manifests/examples/${f}`]);
    const r = cli(['validate', ...files]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('validate reads standard input and names the bad field', () => {
    const bad = invalidCases.find((c) => c.field === 'spec.sla.latency.p95')!;
    const r = cli(['validate', '-f', '-'], dump(documentOf(bad)));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('spec.sla.latency.p95: must be a duration like 3s or 500ms');
  });

  it('each bad document exits 1 with its field in the message', () => {
    // One process for the whole table: a multi-document stream, one problem list per document.
    const docs = invalidCases.filter((c) => !c.yaml).map((c) => dump({ ...documentOf(c), metadata: { name: `case-${invalidCases.indexOf(c)}` } }));
    const r = cli(['validate', '-f', '-'], docs.join('---\n'));
    expect(r.code).toBe(1);
    for (const c of invalidCases.filter((c) => !c.yaml && c.field !== 'metadata.name')) {
      expect(r.stderr).toContain(`case-${invalidCases.indexOf(c)}: ${c.field}: `);
    }
  });

  it('validate with a missing file or no -f is a clear error', () => {
    expect(cli(['validate', '-f', 'nope.yaml'])).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot read nope.yaml: ENOENT') });
    expect(cli(['validate'])).toMatchObject({ code: 2, stderr: expect.stringContaining('missing -f FILE') });
  });

  it('every command has --help', () => {
    for (const c of ['crd', 'validate', 'render', 'size', 'usage', 'run']) {
      const r = cli([c, '--help']);
      expect([c, r.code]).toEqual([c, 0]);
      expect(r.stdout).toMatch(/^Usage: qwen-operator /);
    }
  });

  it('an unknown command exits 2 with usage', () => {
    const r = cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });
});
