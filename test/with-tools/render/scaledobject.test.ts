// The ScaledObject's trigger queries evaluated by promtool (every generation present) on synthetic
// series: what KEDA's Prometheus scaler would read.
import { describe, it, expect, afterAll } from '@jest/globals';
import { rmSync } from 'node:fs';
import { parseQwenService } from '../../../src/api/validate.ts';
import type { QwenServiceInput } from '../../../src/api/qwenservice.ts';
import { defaultRenderConfig, type KubeObject } from '../../../src/render/common.ts';
import { BURN_TRIGGER, QUEUE_TRIGGER, renderScaledObject } from '../../../src/render/scaledobject.ts';
import { MIN_BURN_EVENTS } from '../../../src/sla/triggers.ts';
import { promtools, run, tempDir, writeYaml } from '../promtool.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

const config = { ...defaultRenderConfig, prometheusURL: 'http://prometheus.monitoring.svc:9090' };
const qws = (spec: QwenServiceInput['spec']) => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', uid: 'uid-1' }, spec });
const trigger = (o: KubeObject | undefined, name: string) => (o!.spec as { triggers: { name: string; metadata: { query: string } }[] }).triggers.find((t) => t.name === name);

describe('trigger queries, evaluated by promtool', () => {
  const dir = tempDir('scaling-queries');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const qs = qws({ autoscaling: { maxReplicas: 8 }, sla: { latency: { p95: '3s' }, timeToFirstToken: { p99: '1s' }, errorRate: '1%' } });
  const so = renderScaledObject(resolvePlan(qs, config));
  const queue = trigger(so, QUEUE_TRIGGER)!.metadata.query;
  const burn = trigger(so, BURN_TRIGGER)!.metadata.query;
  const s = (slo: string, extra = '') => `{namespace="team-a",service="chat",slo="${slo}"${extra}}`;
  const rec = (name: string, slo: string, values: string) => ({ series: `${name}${s(slo)}`, values });

  it.each(promtools().map((p) => [p.name, p.path] as const))('%s: queue sums running + waiting over the pods; burn is the worst ratio/budget with enough events', async (_name, path) => {
    const file = writeYaml(dir, `test-${_name.replace(/\W+/g, '-')}.yaml`, {
      rule_files: [],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: [
          { series: 'gen_ai_server_requests_running{namespace="team-a",service="chat",pod="a"}', values: '2x10' },
          { series: 'gen_ai_server_requests_waiting{namespace="team-a",service="chat",pod="a"}', values: '3x10' },
          { series: 'gen_ai_server_requests_running{namespace="team-a",service="chat",pod="b"}', values: '4x10' },
          // Another service's queue does not count.
          { series: 'gen_ai_server_requests_waiting{namespace="team-a",service="other",pod="c"}', values: '100x10' },
          // latency-p95: 10% bad against a 5% budget = burn 2, 50 events.
          rec('qwen_slo:sli_error:ratio_rate5m', 'latency-p95', '0.1x10'),
          rec('qwen_slo:error_budget:ratio', 'latency-p95', '0.05x10'),
          rec('qwen_slo:sli_events:increase5m', 'latency-p95', '50x10'),
          // ttft-p99: 4% bad against 1% = burn 4, but too few events to count until minute 5.
          rec('qwen_slo:sli_error:ratio_rate5m', 'ttft-p99', '0.04x10'),
          rec('qwen_slo:error_budget:ratio', 'ttft-p99', '0.01x10'),
          { series: `qwen_slo:sli_events:increase5m${s('ttft-p99')}`, values: `${MIN_BURN_EVENTS - 1}x4 ${MIN_BURN_EVENTS}x5` },
          // error-rate burns 50x: not a scaling SLO.
          rec('qwen_slo:sli_error:ratio_rate5m', 'error-rate', '0.5x10'),
          rec('qwen_slo:error_budget:ratio', 'error-rate', '0.01x10'),
          rec('qwen_slo:sli_events:increase5m', 'error-rate', '50x10'),
        ],
        promql_expr_test: [
          { expr: queue, eval_time: '2m', exp_samples: [{ labels: '{}', value: 9 }] },
          { expr: burn, eval_time: '2m', exp_samples: [{ labels: '{}', value: 2 }] },
          { expr: burn, eval_time: '6m', exp_samples: [{ labels: '{}', value: 4 }] },
        ],
      }, {
        interval: '1m',
        // An idle window: 0/0 is NaN in the ratio. No sample (KEDA reads 0), never NaN.
        input_series: [
          rec('qwen_slo:sli_error:ratio_rate5m', 'latency-p95', 'NaN NaN NaN NaN NaN NaN'),
          rec('qwen_slo:error_budget:ratio', 'latency-p95', '0.05x5'),
          rec('qwen_slo:sli_events:increase5m', 'latency-p95', '0x5'),
        ],
        promql_expr_test: [{ expr: burn, eval_time: '2m', exp_samples: [] }],
      }],
    });
    const r = await run(path, ['test', 'rules', file]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });
});
