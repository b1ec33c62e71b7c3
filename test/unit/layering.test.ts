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
    ['src/render/probe.ts', '../controller/status.ts'],
    ['src/controller/probe.ts', '../render/rollout.ts'],
    ['src/controller/probe.ts', '../slastatus/poller.ts'],
    ['src/slastatus/probe.ts', '../commands/render.ts'],
    ['src/conventions.ts', './kube/object.ts'],
  ])('%s may not import %s', async (file, from) => {
    expect(await layeringErrors(file, from)).toEqual([expect.stringContaining('layering (ARCHITECTURE.md)')]);
  });

  it.each([
    ['src/sla/probe.ts', '../kube/object.ts'],
    ['src/plan/probe.ts', '../sla/gates.ts'],
    ['src/render/probe.ts', '../plan/index.ts'],
    ['src/controller/probe.ts', '../plan/index.ts'],
    ['src/controller/probe.ts', '../render/index.ts'],
    ['src/controller/probe.ts', '../render/common.ts'],
    ['src/slastatus/probe.ts', '../controller/informer.ts'],
    ['src/commands/probe.ts', '../render/scaledobject.ts'],
    ['src/api/probe.ts', '../conventions.ts'],
  ])('%s may import %s', async (file, from) => {
    expect(await layeringErrors(file, from)).toEqual([]);
  });
});
