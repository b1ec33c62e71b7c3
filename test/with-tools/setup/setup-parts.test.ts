// scripts/setup.sh sets up what a command needs: the demo's first run on a fresh machine builds
// only what the demo uses (no KEDA, Argo Rollouts, crane, prometheus-operator), `npm test` gets
// everything, and each run ends with the time each part took. The real script, run as users run it
// (everything is cached here, so it only checks stamps and versions).
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const setup = (...args: string[]) => spawnSync('bash', ['scripts/setup.sh', ...args], { encoding: 'utf8' });
const parts = (set?: string) => setup('--list', ...(set ? [set] : [])).stdout.trim().split('\n');

describe('scripts/setup.sh', () => {
  it('sets up for the demo only what the demo uses', () => {
    const demo = parts('demo');
    expect(demo).toEqual(expect.arrayContaining(['node', 'npm-deps', 'worker+model', 'control-plane', 'prometheus-tools']));
    for (const unused of ['keda', 'argo-rollouts', 'crane', 'prometheus-operator', 'sizing-fixture', 'router-deps']) expect(demo).not.toContain(unused);
  });

  it('sets up everything by default (all): every demo part and the test-only ones', () => {
    const all = parts();
    expect(parts('all')).toEqual(all);
    expect(all).toEqual(expect.arrayContaining([...parts('demo'), 'keda', 'argo-rollouts', 'crane', 'prometheus-operator', 'sizing-fixture', 'router-deps']));
  });

  it('is called with the demo set by the demo and with everything by the tests', () => {
    expect(readFileSync('scripts/demo.sh', 'utf8')).toMatch(/^bash "\$QWEN_ROOT\/scripts\/setup\.sh" demo$/m);
    expect(readFileSync('scripts/test.sh', 'utf8')).toMatch(/^bash "\$QWEN_ROOT\/scripts\/setup\.sh"$/m);
  });

  it('refuses a set it does not know', () => {
    const r = setup('demos');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown set 'demos'");
  });

  it('ends with the time each part took, and whether it was built or cached', () => {
    const r = setup('demo');
    expect(r.status).toBe(0);
    const table = r.stderr.slice(r.stderr.indexOf('time per part:'));
    const rows = table.split('\n').slice(2).map((l) => l.trim().split(/\s+/)).filter((cols) => cols.length === 3);
    expect(rows.map((cols) => cols[0])).toEqual(parts('demo'));
    for (const [, seconds, state] of rows) {
      expect(Number(seconds)).toBeGreaterThanOrEqual(0);
      expect(['cached', 'built']).toContain(state);
    }
    expect(table).toMatch(/^total\s+\d+\.\d$/m);
  }, 300_000);
});
