// What the planner promises about paging, without promtool: the burn ladder's checkpoints
// (computed from timeToPageAt, see burns.ts) and a property over random valid SLA blocks.
// promtool replays the same: test/with-tools/sla/burns.test.ts and rules-check.test.ts.
import { it, expect } from '@jest/globals';
import fc from 'fast-check';
import { compileSla } from '../../../src/sla/rules.ts';
import { BURNS } from './burns.ts';
import { LINKS } from './fixtures.ts';
import { qwenService } from './arbitrary.ts';

it('pages 10x on every budget of the ladder by 30 minutes (the checkpoints say so)', () => {
  const tenX = BURNS.find((b) => b.burn === 10)!;
  const pages = tenX.checkpoints.filter((c) => c.firing.length);
  expect(pages.map((c) => c.firing[0]).sort()).toEqual(['critical/latency-p90', 'critical/latency-p95', 'critical/latency-p99', 'critical/latency-p999']);
  for (const c of pages) expect(c.at).toBeLessThanOrEqual(120 + 30);
  expect(BURNS.find((b) => b.burn === 2)!.checkpoints.every((c) => c.firing.length === 0)).toBe(true);
});

it('random valid SLA blocks: every SLO pages a total breach within 10 minutes and a 10x burn within 30 (property)', () => {
  fc.assert(fc.property(qwenService, (qs) => {
    for (const p of compileSla(qs, LINKS).plans) {
      if (p.timeToPage === undefined || p.timeToPage > 540) return false;
      // Every budget a random SLA can declare (<= 10%) pages a sustained 10x burn within 28 minutes.
      if (p.slo.budget <= 0.1 && (p.timeToPageSustained === undefined || p.timeToPageSustained > 1680)) return false;
    }
    return true;
  }), { numRuns: 200 });
});
