// The exact autoscaling triggers (manifests/examples/autoscaled.yaml) and rollout gate queries
// (manifests/examples/canary.yaml), compared with checked-in files, like the SLO rules'
// (test/unit/sla/golden.test.ts): a change to a query shows up as a reviewable diff of that file.
// Regenerate after a deliberate change: UPDATE_GOLDEN=1 npm run jest -- test/unit/render/queries.golden.test.ts --selectProjects unit
import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { dump, load } from 'js-yaml';
import { parseQwenService } from '../../../src/api/validate.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { renderRollout } from '../../../src/render/rollout.ts';
import { renderScaledObject } from '../../../src/render/scaledobject.ts';

const config = { ...defaultRenderConfig, prometheusURL: 'http://prometheus-operated.monitoring.svc:9090' };
const example = (file: string, router = false) => {
  const qs = parseQwenService(load(readFileSync(`manifests/examples/${file}`, 'utf8')));
  return resolvePlan(router ? parseQwenService({ ...qs, spec: { ...qs.spec, router: {} } }) : qs, config);
};
const yaml = (doc: unknown) => dump(doc, { lineWidth: -1, noRefs: true });

function golden(name: string, actual: string) {
  const file = new URL(`./golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('queries of the examples (golden)', () => {
  it.each([false, true])('the ScaledObject triggers of autoscaled.yaml; with a router: %s', (router) => {
    // With a router too: the queue trigger reads the workers' gauges, the burn trigger the recorded
    // series (the router adds its own external-push trigger beside them: tested in render/router.test.ts).
    const so = renderScaledObject(example('autoscaled.yaml', router))!;
    const prometheus = (so.spec as { triggers: { type: string }[] }).triggers.filter((t) => t.type === 'prometheus');
    golden('autoscaled.triggers.yaml', yaml(prometheus));
  });

  it.each([false, true])('the AnalysisTemplates of canary.yaml (gate and budget queries, conditions, limits); with a router: %s', (router) => {
    // With a router too: a canary is judged on its own workers' series, not the router's.
    const plan = example('canary.yaml', router);
    expect(plan.sla.source).toBe(router ? 'router' : 'worker');
    const templates = renderRollout(plan).filter((o) => o.kind === 'AnalysisTemplate');
    golden('canary.analysis.yaml', templates.map((t) => `# ${t.metadata.name}\n${yaml(t.spec)}`).join('---\n'));
  });
});
