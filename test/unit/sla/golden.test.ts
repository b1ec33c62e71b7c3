// The exact rule set compiled for manifests/examples/full-sla.yaml, compared with a checked-in
// file (Sloth's exact-rule tests): a refactor of the compiler that changes any rule, label or
// annotation fails here, and a deliberate change shows up as a reviewable diff of that file.
// Regenerate after a deliberate change: UPDATE_GOLDEN=1 npm run jest -- test/unit/sla/golden.test.ts --selectProjects unit
import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { dump } from 'js-yaml';
import { compileSla } from '../../../src/sla/rules.ts';
import { normalizeSla } from '../../../src/sla/slos.ts';
import { fullSla, LINKS } from './fixtures.ts';

const golden = new URL('./golden/full-sla.rules.yaml', import.meta.url);
const goldenRouter = new URL('./golden/full-sla.router.rules.yaml', import.meta.url);

describe('compiled rules of full-sla.yaml', () => {
  it('are exactly the golden file', () => {
    // The same serialisation as `render --format prometheus-rules`.
    const actual = dump({ groups: compileSla(fullSla(), LINKS).groups }, { lineWidth: -1, noRefs: true });
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, actual);
    expect(actual).toBe(readFileSync(golden, 'utf8'));
  });
});

describe('compiled rules of full-sla.yaml with a router', () => {
  it('are exactly the golden file (the router\'s series for latency, TTFT, errors and availability)', () => {
    const qs = fullSla();
    const actual = dump({ groups: compileSla(qs, LINKS, normalizeSla(qs.spec.sla, 'router')).groups }, { lineWidth: -1, noRefs: true });
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenRouter, actual);
    expect(actual).toBe(readFileSync(goldenRouter, 'utf8'));
  });
});
