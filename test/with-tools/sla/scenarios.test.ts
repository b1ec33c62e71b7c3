// Our SLO rules and the seed's naive rules replayed on the same traffic through promtool (every
// generation present): each scenario states which alerts fire at which minute. See docs/sla.md.
import { describe, it, expect } from '@jest/globals';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';
import { NAIVE_RULES, SCENARIOS, type Scenario } from '../../unit/sla/scenarios.ts';
import { budgets, fullSla, rulesOf } from '../../unit/sla/fixtures.ts';
import { writeRuleTest, type Kind } from './ruletest.ts';

const dir = tempDir('scenarios');
const ours = { full: writeYaml(dir, 'full.rules.yaml', rulesOf(fullSla())), budgets: writeYaml(dir, 'budgets.rules.yaml', rulesOf(budgets())) };
const naive = writeYaml(dir, 'naive.rules.yaml', NAIVE_RULES);

function testFile(s: Scenario, kind: Kind): string {
  return writeRuleTest(dir, `${SCENARIOS.indexOf(s)}-${kind}`, kind === 'ours' ? ours[s.sla] : naive, s.profile, kind === 'ours' ? s.ours : s.naive, kind);
}

describe.each(promtools())('$name', ({ path }) => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('ours: %s', async (_name, s) => {
    const r = await run(path, ['test', 'rules', testFile(s, 'ours')], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 300_000);
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('naive: %s', async (_name, s) => {
    const r = await run(path, ['test', 'rules', testFile(s, 'naive')], dir);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  }, 300_000);
});

