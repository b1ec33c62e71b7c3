// The tenants' PromQL parses: the dashboard's per-tenant panels (with a router's series) and
// `qwen-operator usage`'s queries, through `promtool check rules` (every generation present).
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { usageQueries } from '../../../src/commands/usage.ts';
import { defaultRenderConfig, resolvePlan } from '../../../src/plan/index.ts';
import { tenantPanels } from '../../../src/render/dashboard-tenants.ts';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';

const qs = parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec: { tenants: [{ name: 'a' }] } });
const plan = resolvePlan(qs, defaultRenderConfig);
// spec.router ([G]) decides the SLI source; set here as the plan would with it.
const withRouter = { ...plan, sla: { ...plan.sla, source: 'router' as const } };

describe('tenant queries', () => {
  const exprs = [...tenantPanels(withRouter).flatMap((p) => p.targets.map((t) => t.expr)), ...Object.values(usageQueries('30d', 'team-a')), ...Object.values(usageQueries('1h', undefined))];

  it('panels only with tenants and the router\'s series', () => {
    expect(tenantPanels(plan)).toEqual([]);
    expect(tenantPanels(withRouter).map((p) => p.title)).toEqual(['Requests per tenant', 'Tokens per tenant', 'Refusals per tenant', 'Time to first token p95 per tenant']);
    expect(exprs.join('\n')).toContain('service="chat-router"');
  });

  it.each(promtools())('every query parses ($name)', async ({ path }) => {
    const dir = tempDir('tenant-queries');
    const file = writeYaml(dir, 'tenants.rules.yaml', { groups: [{ name: 'tenants', rules: exprs.map((expr, i) => ({ record: `tenants:query_${i}`, expr })) }] });
    const r = await run(path, ['check', 'rules', file]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });
});
