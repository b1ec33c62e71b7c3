// `promtool check rules` on the rules of every example and of random valid SLA blocks
// (fast-check, test/unit/sla/arbitrary.ts), with every promtool generation present.
import { describe, it, expect } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { loadAll } from 'js-yaml';
import { parseQwenService } from '../../../src/api/validate.ts';
import { compileSla } from '../../../src/sla/rules.ts';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';
import { LINKS } from '../../unit/sla/fixtures.ts';
import { qwenService } from '../../unit/sla/arbitrary.ts';

const examplesDir = new URL('../../../manifests/examples/', import.meta.url);
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => loadAll(readFileSync(new URL(f, examplesDir), 'utf8')).map((doc) => [f, parseQwenService(doc)] as const))
  .filter(([, qs]) => qs.spec.sla);
const dir = tempDir('rules-check');

describe.each(promtools())('$name', ({ path }) => {
  it.each(examples.map(([f, qs]) => [f, qs] as const))('check rules: %s', async (_f, qs) => {
    const file = writeYaml(dir, `${qs.metadata.name}.rules.yaml`, { groups: compileSla(qs, LINKS).groups });
    const r = await run(path, ['check', 'rules', file]);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  }, 60_000);

  it('check rules: random valid SLA blocks (property)', async () => {
    // One promtool call per batch: many files in one `check rules`.
    const samples = fc.sample(qwenService, { numRuns: 25, seed: 42 });
    const files = samples.filter((qs) => compileSla(qs, LINKS).groups.length)
      .map((qs, i) => writeYaml(dir, `random-${i}.rules.yaml`, { groups: compileSla(qs, LINKS).groups }));
    const r = await run(path, ['check', 'rules', ...files]);
    expect(r.out).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
  }, 120_000);
});
