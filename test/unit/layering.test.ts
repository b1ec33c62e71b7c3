// The layering of ARCHITECTURE.md is enforced by lint (eslint.config.js, `layers`): an import that
// runs back up is an error. Checked here with ESLint's own API on a probe source placed in each
// module, so a rule that stops matching (a typo in a pattern) fails a test, not just silently passes.
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

async function layeringErrors(file: string, from: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${from}';\nexport const y = x;\n`, { filePath: file });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering lint', () => {
  it.each([
    ['src/kube/probe.ts', '../conventions.ts'],
    ['src/sla/probe.ts', '../plan/index.ts'],
    ['src/sla/probe.ts', '../render/common.ts'],
    ['src/plan/probe.ts', '../render/index.ts'],
    ['src/sizing/probe.ts', '../plan/index.ts'],
    ['src/sizing/probe.ts', '../controller/reconciler.ts'],
    ['src/sizing/probe.ts', '../sla/slos.ts'],
    ['src/render/probe.ts', '../controller/status.ts'],
    ['src/controller/probe.ts', '../render/rollout.ts'],
    ['src/controller/probe.ts', '../slastatus/poller.ts'],
    ['src/slastatus/probe.ts', '../commands/render.ts'],
    ['src/conventions.ts', './kube/object.ts'],
    ['src/sla/probe.ts', '../../worker/src/metrics.ts'],
    ['src/commands/probe.ts', '../../worker/src/config.ts'],
    ['src/cli-probe.ts', '../worker/src/engine.ts'],
    ['worker/src/probe.ts', '../../src/conventions.ts'],
    ['worker/src/contract.ts', './metrics.ts'],
    ['src/render/probe.ts', '../../router/src/proxy.ts'],
  ])('%s may not import %s', async (file, from) => {
    const errors = await layeringErrors(file, from);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toMatch(/layering \(ARCHITECTURE.md\)|only the (worker|router) contract/);
  });

  it.each([
    ['src/sla/probe.ts', '../kube/object.ts'],
    ['src/plan/probe.ts', '../sla/gates.ts'],
    ['src/plan/probe.ts', '../sizing/plan.ts'],
    ['src/sizing/probe.ts', '../kube/conditions.ts'],
    ['src/sizing/probe.ts', '../../worker/src/contract.ts'],
    ['src/render/probe.ts', '../plan/index.ts'],
    ['src/controller/probe.ts', '../plan/index.ts'],
    ['src/controller/probe.ts', '../render/index.ts'],
    ['src/controller/probe.ts', '../render/common.ts'],
    ['src/slastatus/probe.ts', '../controller/informer.ts'],
    ['src/slastatus/probe.ts', '../plan/index.ts'],
    ['src/commands/probe.ts', '../render/scaledobject.ts'],
    ['src/api/probe.ts', '../conventions.ts'],
    ['src/sla/probe.ts', '../../worker/src/contract.ts'],
    ['src/render/probe.ts', '../../worker/src/contract.ts'],
    ['src/render/probe.ts', '../../router/src/contract.ts'],
    ['src/api/probe.ts', '../../router/src/contract.ts'],
    ['worker/src/metrics-probe.ts', './contract.ts'],
  ])('%s may import %s', async (file, from) => {
    expect(await layeringErrors(file, from)).toEqual([]);
  });
});
