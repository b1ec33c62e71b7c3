// The exact rule set compiled for manifests/examples/full-sla.yaml, compared with a checked-in
// file (Sloth's exact-rule tests): a refactor of the compiler that changes any rule, label or
// annotation fails here, and a deliberate change shows up as a reviewable diff of that file.
// Regenerate after a deliberate change: UPDATE_GOLDEN=1 npm run jest -- test/unit/sla/golden.test.ts --selectProjects unit
import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { dump } from 'js-yaml';
import { compileSla } from '../../../src/sla/rules.ts';
import { fullSla, LINKS } from './fixtures.ts';

const golden = new URL('./golden/full-sla.rules.yaml', import.meta.url);

describe('compiled rules of full-sla.yaml', () => {
  it('are exactly the golden file', () => {
    // The same serialisation as `render --format prometheus-rules`.
    const actual = dump({ groups: compileSla(fullSla(), LINKS).groups }, { lineWidth: -1, noRefs: true });
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, actual);
    expect(actual).toBe(readFileSync(golden, 'utf8'));
  });
});
