// Every SLI query that is not a rule parses: what the status loop reads (recorded series with the
// raw SLI as fallback, the measured value, the P95 column, firing alerts) and the raw SLIs narrowed
// by an extra matcher as rollout gates ask for them, through `promtool check rules` (every
// generation present; each query wrapped in a recording rule).
import { describe, expect, it } from '@jest/globals';
import { matcher, rawSli, targetOf } from '../../../src/sla/sli.ts';
import { normalizeSla } from '../../../src/sla/slos.ts';
import { firingAlertsQuery, p95Query, queriesFor } from '../../../src/slastatus/slos.ts';
import { fullSla } from '../../unit/sla/fixtures.ts';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';

const qs = fullSla();
const { window, slos } = normalizeSla(qs.spec.sla);
const canary = matcher('rollouts_pod_template_hash', '=', 'abc');
const queries = [
  ...slos.flatMap((slo) => [window, 3600].flatMap((w) => Object.values(queriesFor(qs, slo, w)))),
  ...slos.flatMap((slo) => Object.values(rawSli(targetOf(qs), slo, 600, [canary]))),
  // With a router (the status loop's raw fallback reads the router's series).
  ...slos.flatMap((slo) => Object.values(rawSli(targetOf(qs, 'router'), slo, 3600))),
  p95Query(qs),
  firingAlertsQuery(qs),
];

describe.each(promtools())('$name', ({ path }) => {
  it('parses every status and raw SLI query', async () => {
    const file = writeYaml(tempDir('sli-check'), 'queries.rules.yaml', { groups: [{ name: 'queries', rules: queries.map((expr, i) => ({ record: `query:${i}`, expr })) }] });
    const r = await run(path, ['check', 'rules', file]);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });
});
