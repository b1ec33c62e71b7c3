// QwenServices the SLA tests compile: the full-sla example, and one with the budgets the example
// does not have (p50, p90, p99.9, a 5% error rate, 90% availability).
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { parseQwenService } from '../../../src/api/validate.ts';
import type { QwenService } from '../../../src/api/qwenservice.ts';
import { compileSla } from '../../../src/sla/rules.ts';

export const fullSla = (): QwenService => parseQwenService(load(readFileSync(new URL('../../../manifests/examples/full-sla.yaml', import.meta.url), 'utf8')));

export const budgets = (): QwenService => parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1',
  kind: 'QwenService',
  metadata: { name: 'chat', namespace: 'team-a' },
  spec: { replicas: 2, sla: { latency: { p50: '1s', p90: '2s', p999: '10s' }, errorRate: '5%', availability: '90%' } },
});

export const LINKS = { runbookURL: 'https://example.com/runbook' };

export function rulesOf(qs: QwenService) {
  return { groups: compileSla(qs, LINKS).groups };
}
