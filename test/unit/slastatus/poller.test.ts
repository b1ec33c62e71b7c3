// What the SLA status loop asks Prometheus for one QwenService: the plan's SLOs over the plan's
// window. The Prometheus is a fake that records the queries and has no data (the unit project runs
// none; test/e2e/slastatus.test.ts reads a real one).
import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { checkQwenService } from '../../../src/api/validate.ts';
import type { QwenService } from '../../../src/api/qwenservice.ts';
import { defaultRenderConfig, planSla, resolvePlan } from '../../../src/plan/index.ts';
import { SlaStatusPoller } from '../../../src/slastatus/poller.ts';
import type { PrometheusClient } from '../../../src/slastatus/prometheus.ts';
import { queriesFor } from '../../../src/slastatus/slos.ts';

function qs(sla: Record<string, unknown>): QwenService {
  const r = checkQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec: { gpu: { count: 0 }, sla } });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

describe('SLA status loop reads the plan\'s SLOs', () => {
  it('queries each SLO of the plan over the plan\'s window and the last hour, and measures them in the plan\'s order', async () => {
    const service = qs({ window: '7d', latency: { p99: '5s' }, errorRate: '1%' });
    const asked: string[] = [];
    const prometheus = { query: async (expr: string) => { asked.push(expr); return []; } } as unknown as PrometheusClient;
    const poller = new SlaStatusPoller({ prometheus, log: pino({ level: 'silent' }), intervalMs: 1000 } as never);
    const reading = await poller.read(service);
    const { window, slos } = planSla(service);
    expect(window).toBe(7 * 86400);
    expect(resolvePlan(service, defaultRenderConfig).sla).toEqual({ window, slos, source: 'worker' });
    expect(reading.reachable && reading.measurements.map((m) => m.slo)).toEqual(slos);
    for (const slo of slos) {
      for (const w of [window, 3600]) expect(asked).toEqual(expect.arrayContaining(Object.values(queriesFor(service, slo, w))));
    }
  });
});
