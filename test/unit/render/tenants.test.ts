// spec.tenants → the router's flags: the JSON the router parses (router/src/tenants/policy.ts reads
// the same shape), the replicas that share each limit, the TTFT objective.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { tenantsArg } from '../../../src/render/tenants.ts';
import { parseConfig } from '../../../router/src/config.ts';

const planOf = (spec: Record<string, unknown>) =>
  resolvePlan(parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec }), defaultRenderConfig);

const tenants = [
  { name: 'search', priority: 'Critical', requestsPerMinute: 600, maxConcurrent: 8 },
  { name: 'nightly', priority: 'Batch', tokensPerMinute: 200000 },
  { name: 'default', requestsPerMinute: 60 },
];

describe('tenantsArg', () => {
  it('nothing without spec.tenants or a TTFT objective', () => {
    expect(tenantsArg(planOf({}))).toEqual([]);
  });

  it('the tenants as one JSON word with their defaults, the replicas (default 2), the tightest TTFT threshold', () => {
    const args = tenantsArg(planOf({ tenants, sla: { timeToFirstToken: { p95: '2s', p99: '5s' } } }));
    expect(args).toEqual([
      `--tenants=${JSON.stringify({
        search: { priority: 'Critical', requestsPerMinute: 600, maxConcurrent: 8 },
        nightly: { priority: 'Batch', tokensPerMinute: 200000 },
        default: { priority: 'Standard', requestsPerMinute: 60 },
      })}`,
      '--replicas=2',
      '--worker-parallel=4',
      '--ttft-objective=2',
    ]);
  });

  it('the router takes them as they are', () => {
    const args = tenantsArg(planOf({ tenants, sla: { timeToFirstToken: { p95: '1500ms' } } }));
    const c = parseConfig(['--upstreams=http://127.0.0.1:1', ...args]);
    expect(c.tenants.get('search')).toMatchObject({ priority: 'Critical', requestsPerMinute: 600, maxConcurrent: 8 });
    expect(c.tenants.get('default')).toMatchObject({ priority: 'Standard', requestsPerMinute: 60 });
    expect([c.replicas, c.workerParallel, c.ttftObjectiveS]).toEqual([2, 4, 1.5]);
  });
});
