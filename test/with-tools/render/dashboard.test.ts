// The dashboard's queries parse: every panel's expression through `promtool check rules` (every
// generation present).
import { describe, it, expect } from '@jest/globals';
import { dashboardPanels } from '../../../src/render/dashboard.ts';
import { fullSla } from '../../unit/sla/fixtures.ts';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';
import { defaultRenderConfig, resolvePlan } from '../../../src/plan/index.ts';

describe('dashboard', () => {
  const exprs = dashboardPanels(resolvePlan(fullSla(), defaultRenderConfig)).flatMap((p) => p.targets.map((t) => t.expr));

  it('has queries to check', () => {
    expect(exprs.length).toBeGreaterThan(0);
  });

  it.each(promtools())('every query parses ($name)', async ({ path }) => {
    const dir = tempDir('dashboard');
    const file = writeYaml(dir, 'dashboard.rules.yaml', { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] });
    const r = await run(path, ['check', 'rules', file]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });
});
