// The burn ladder through promtool (every generation present): at 2x no page, at 6x, 10x, 14.4x
// and a total breach each SLO (budgets 10%, 5%, 1%, 0.1%) pages when the planner's formula says,
// within one scrape-and-evaluation of slack. See burns.ts and docs/sla.md.
import { describe, it, expect } from '@jest/globals';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';
import { BURNS, ladder, type Burn } from '../../unit/sla/burns.ts';
import { rulesOf } from '../../unit/sla/fixtures.ts';
import { writeRuleTest } from './ruletest.ts';

const dir = tempDir('burns');
const rules = writeYaml(dir, 'ladder.rules.yaml', rulesOf(ladder()));

const testFile = (b: Burn) => writeRuleTest(dir, b.name.replace(/\W+/g, '-'), rules, b.profile, b.checkpoints, 'ours');

describe.each(promtools())('$name', ({ path }) => {
  it.each(BURNS.map((b) => [b.name, b] as const))('burn %s: each SLO pages when the formula says', async (_name, b) => {
    const r = await run(path, ['test', 'rules', testFile(b)], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 300_000);
});
