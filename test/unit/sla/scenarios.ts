// The rule-test scenarios: traffic profiles replayed through promtool against our rules and
// against the seed article's hand-written rules (section 4.1, translated to the worker's metric
// names), with what each should do. docs/sla.md carries the same table.
import type { Dist, Profile, Traffic } from './series.ts';

/** At minute `at`, exactly these alerts fire. Ours: `critical/<slo>`, `warning/<slo>`, `absent`. Naive: alert names. */
export type Checkpoint = { at: number; firing: string[]; /** only look at alerts matching this (PromQL matchers) */ only?: string };

export type Scenario = {
  name: string;
  /** Which QwenService's rules: the full-sla example, or one with the other budgets. */
  sla: 'full' | 'budgets';
  profile: Omit<Profile, 'namespace' | 'service'>;
  ours: Checkpoint[];
  naive: Checkpoint[];
  /** What should happen, for the docs table. */
  should: string;
};

const scale = (d: Dist, rpm: number): Dist => d.map(([v, share]) => [v, share * rpm]);
/** Within every SLO of full-sla.yaml: 2.5% over 3s, 0.5% over 5s, 2% slow first token and decode. */
export const healthy = (rpm: number): Traffic => ({
  latency: scale([[0.4, 0.975], [4, 0.02], [6, 0.005]], rpm),
  ttft: scale([[0.2, 0.98], [1.5, 0.02]], rpm),
  tpot: scale([[0.02, 0.98], [0.1, 0.02]], rpm),
});
const after = (start: number, before: Traffic, then: Traffic) => (m: number) => (m >= start ? then : before);
const hourly = (firing: string[], until = 480, only?: string): Checkpoint[] =>
  Array.from({ length: until / 60 }, (_, i) => ({ at: (i + 1) * 60, firing, ...(only ? { only } : {}) }));
const HOURS8 = 480;

export const SCENARIOS: Scenario[] = [
  {
    name: 'steady traffic within SLA (some client errors and rare server errors)',
    sla: 'full',
    should: 'nothing for 8h',
    profile: { minutes: HOURS8, pods: 2, traffic: () => ({ ...healthy(60), errors: { internal: 0.03, invalid_request: 0.5, cancelled: 0.2 } }) },
    ours: hourly([]),
    naive: hourly(['HighErrorRate']),
  },
  {
    name: 'total error outage from 2h',
    sla: 'full',
    should: 'page (error-rate) within 5 min',
    profile: { minutes: 150, pods: 2, traffic: after(120, healthy(60), { errors: { internal: 60 } }) },
    ours: [{ at: 119, firing: [] }, { at: 125, firing: ['critical/error-rate'] }],
    naive: [{ at: 119, firing: [] }, { at: 126, firing: ['HighErrorRate'] }],
  },
  {
    name: 'slow burn: 0.2% errors (2x the 0.1% budget) for 8h',
    sla: 'full',
    should: 'ticket, never a page',
    profile: { minutes: HOURS8, pods: 2, traffic: () => ({ ...healthy(120), errors: { internal: 0.24 } }) },
    ours: [...hourly([], HOURS8, 'severity="critical"'), { at: HOURS8, firing: ['warning/error-rate'] }],
    naive: [{ at: 60, firing: ['HighErrorRate'] }],
  },
  {
    name: 'low traffic (2 req/5 min), a slow request every 30 min, 3 of 4 slow in one 10 min stretch',
    sla: 'full',
    should: 'no page',
    profile: {
      minutes: HOURS8, pods: 2,
      traffic: (m) => {
        if (m >= 200 && m < 210) return { latency: [[4, 0.2], [6, 0.1], [0.4, 0.1]] };
        return { latency: m % 30 === 0 ? [[0.4, 0.4], [4, 1]] : [[0.4, 0.4]] };
      },
    },
    ours: [...hourly([]), { at: 206, firing: [] }, { at: 212, firing: [] }],
    naive: [{ at: 34, firing: ['HighResponseTime'] }, { at: 206, firing: ['CriticalResponseTime', 'HighResponseTime'] }],
  },
  {
    name: 'counter reset: both workers restart at 4h (one scrape down)',
    sla: 'full',
    should: 'nothing',
    profile: { minutes: HOURS8, pods: 2, traffic: () => healthy(60), restarts: [240], up: (m) => m !== 240 },
    ours: [...hourly([]), { at: 242, firing: [] }, { at: 245, firing: [] }],
    naive: [{ at: 242, firing: [] }, { at: 245, firing: [] }],
  },
  {
    name: 'latency total breach (all 4s > 3s) from 2h, le written "3.0" (Prometheus 3)',
    sla: 'full',
    should: 'page (latency-p95) within 10 min',
    profile: { minutes: 140, pods: 2, leStyle: 'prometheus3', traffic: after(120, healthy(60), { latency: [[4, 60]] }) },
    ours: [{ at: 119, firing: [] }, { at: 125, firing: [] }, { at: 130, firing: ['critical/latency-p95'] }],
    naive: [{ at: 130, firing: ['HighResponseTime'] }],
  },
  {
    name: 'latency total breach (all 4s > 3s) from 2h, le written "3" (Prometheus 2, prom-client)',
    sla: 'full',
    should: 'page (latency-p95) within 10 min',
    profile: { minutes: 140, pods: 2, leStyle: 'exposition', traffic: after(120, healthy(60), { latency: [[4, 60]] }) },
    ours: [{ at: 119, firing: [] }, { at: 125, firing: [] }, { at: 130, firing: ['critical/latency-p95'] }],
    naive: [{ at: 130, firing: ['HighResponseTime'] }],
  },
  {
    name: 'metrics vanish at 2h (pods deleted / not scraped)',
    sla: 'full',
    should: 'QwenSLOMetricsAbsent',
    profile: { minutes: 140, pods: 2, traffic: () => healthy(60), vanishAt: 120 },
    ours: [{ at: 125, firing: [] }, { at: 132, firing: ['absent'] }],
    naive: [{ at: 132, firing: [] }],
  },
  {
    name: 'both targets down from 2h',
    sla: 'full',
    should: 'page (availability) within 10 min',
    profile: { minutes: 140, pods: 2, traffic: () => healthy(60), up: (m) => m < 120 },
    ours: [{ at: 121, firing: [] }, { at: 125, firing: ['critical/availability'] }, { at: 132, firing: ['absent', 'critical/availability'] }],
    naive: [{ at: 132, firing: [] }],
  },
  {
    name: 'one of two targets down from 2h',
    sla: 'full',
    should: 'nothing (available while one worker is up)',
    profile: { minutes: 180, pods: 2, traffic: () => healthy(60), up: (m, pod) => m < 120 || pod === 0 },
    ours: [{ at: 130, firing: [] }, { at: 180, firing: [] }],
    naive: [{ at: 130, firing: [] }],
  },
  {
    name: 'TTFT total breach (all first tokens 1.5s > 800ms) from 2h',
    sla: 'full',
    should: 'page (ttft-p95) within 10 min',
    profile: { minutes: 140, pods: 2, traffic: after(120, healthy(60), { ...healthy(60), ttft: [[1.5, 60]] }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: ['critical/ttft-p95'] }],
    naive: [{ at: 130, firing: [] }],
  },
  {
    name: 'decode speed total breach (all 10 tokens/s < 20) from 2h',
    sla: 'full',
    should: 'page (output-tokens-per-second) within 10 min',
    profile: { minutes: 140, pods: 2, traffic: after(120, healthy(60), { ...healthy(60), tpot: [[0.1, 60]] }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: ['critical/output-tokens-per-second'] }],
    naive: [{ at: 130, firing: [] }],
  },
  {
    name: 'client errors only: 50% invalid_request/cancelled',
    sla: 'full',
    should: 'nothing (not the service\'s fault)',
    profile: { minutes: 180, pods: 2, traffic: () => ({ ...healthy(30), errors: { invalid_request: 20, cancelled: 10 } }) },
    ours: [{ at: 60, firing: [] }, { at: 180, firing: [] }],
    naive: [{ at: 60, firing: ['HighErrorRate'] }],
  },
  {
    name: '3-minute total error outage at 2h (7% of the month\'s budget)',
    sla: 'full',
    should: 'page, resolves once the short windows clear; the budget spent shows as a ticket',
    profile: { minutes: 200, pods: 2, traffic: (m) => (m >= 120 && m < 123 ? { errors: { internal: 60 } } : healthy(60)) },
    ours: [{ at: 125, firing: ['critical/error-rate'] }, { at: 160, firing: [] }, { at: 200, firing: ['warning/error-rate'] }],
    // (Prometheus 2.42 also fires HighResponseTime here, 3.x does not: only the error alert is compared.)
    naive: [{ at: 125, firing: ['HighErrorRate'], only: 'alertname="HighErrorRate"' }, { at: 160, firing: [] }],
  },
  {
    name: 'other budgets: all requests 20s from 2h (p50 1s, p90 2s, p99.9 10s)',
    sla: 'budgets',
    should: 'page each latency SLO within 10 min',
    profile: { minutes: 140, pods: 2, traffic: after(120, { latency: [[0.4, 60]] }, { latency: [[20, 60]] }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: ['critical/latency-p50', 'critical/latency-p90', 'critical/latency-p999'] }],
    naive: [{ at: 130, firing: ['CriticalResponseTime', 'HighResponseTime'] }],
  },
  {
    name: 'other budgets: total error outage from 2h (5% error budget)',
    sla: 'budgets',
    should: 'page (error-rate) within 10 min',
    profile: { minutes: 140, pods: 2, traffic: after(120, { latency: [[0.4, 60]] }, { errors: { internal: 60 } }) },
    ours: [{ at: 119, firing: [] }, { at: 125, firing: [] }, { at: 130, firing: ['critical/error-rate'] }],
    naive: [{ at: 130, firing: ['HighErrorRate'] }],
  },
  {
    name: 'other budgets: both targets down from 2h (90% availability)',
    sla: 'budgets',
    should: 'page (availability) within 10 min',
    profile: { minutes: 140, pods: 2, traffic: () => ({ latency: [[0.4, 60]] }), up: (m) => m < 120 },
    // One rule group (recording rules, then alerts): both promtool generations read the recording
    // rules of the same evaluation, so the firing minute no longer depends on the group order.
    ours: [{ at: 124, firing: [] }, { at: 130, firing: ['critical/availability'], only: 'slo="availability"' }],
    naive: [{ at: 128, firing: [] }],
  },
  {
    name: 'partial breach: 10% of requests over 5s from 2h (p99 burns 10x, p95 2x)',
    sla: 'full',
    should: 'page (latency-p99) within 30 min, not p95',
    profile: { minutes: 160, pods: 2, traffic: after(120, healthy(60), { ...healthy(60), latency: [[0.4, 54], [6, 6]] }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: [], only: 'severity="critical"' }, { at: 150, firing: ['critical/latency-p99'], only: 'severity="critical"' }],
    naive: [{ at: 119, firing: [] }, { at: 130, firing: ['CriticalResponseTime', 'HighResponseTime'] }],
  },
  {
    name: 'one replica of two slow: half of the first tokens 1.5s > 800ms from 2h (TTFT p95 burns 10x)',
    sla: 'full',
    should: 'page (ttft-p95) within 30 min',
    profile: { minutes: 160, pods: 2, traffic: after(120, healthy(60), { ...healthy(60), ttft: [[0.2, 30], [1.5, 30]] }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: [] }, { at: 150, firing: ['critical/ttft-p95'], only: 'severity="critical"' }],
    naive: [{ at: 150, firing: [] }],
  },
  {
    name: 'comes and goes: every request 4s for 5 min, fine for 5 min, from 2h (p95 burns 10x on average)',
    sla: 'full',
    should: 'page (latency-p95) within 30 min',
    profile: { minutes: 160, pods: 2, traffic: (m) => (m >= 120 && (m - 120) % 10 < 5 ? { ...healthy(60), latency: [[4, 60]] } : healthy(60)) },
    // Fires in the third bad spell and stays firing through the good spells in between (keep_firing_for).
    ours: [{ at: 119, firing: [] }, { at: 147, firing: ['critical/latency-p95'], only: 'severity="critical"' }, { at: 149, firing: ['critical/latency-p95'], only: 'severity="critical"' }],
    naive: [{ at: 125, firing: ['HighResponseTime'] }, { at: 131, firing: [] }, { at: 135, firing: ['HighResponseTime'] }],
  },
  {
    name: '10x error rate: 1% server errors (budget 0.1%) from 2h',
    sla: 'full',
    should: 'page (error-rate) within 30 min',
    profile: { minutes: 160, pods: 2, traffic: after(120, healthy(120), { ...healthy(120), errors: { internal: 1.2 } }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: [] }, { at: 150, firing: ['critical/error-rate'], only: 'severity="critical"' }],
    naive: [{ at: 119, firing: [] }, { at: 130, firing: ['HighErrorRate'] }],
  },
  {
    name: '10x decode speed: half of the requests decode at 10 tokens/s (< 20) from 2h',
    sla: 'full',
    should: 'page (output-tokens-per-second) within 30 min',
    profile: { minutes: 160, pods: 2, traffic: after(120, healthy(60), { ...healthy(60), tpot: [[0.02, 30], [0.1, 30]] }) },
    ours: [{ at: 119, firing: [] }, { at: 130, firing: [] }, { at: 150, firing: ['critical/output-tokens-per-second'], only: 'severity="critical"' }],
    naive: [{ at: 150, firing: [] }],
  },
  {
    name: '10x unavailability: no worker up one minute in twenty (5% of the time, budget 0.5%) from 2h',
    sla: 'full',
    should: 'page (availability) within 30 min',
    profile: { minutes: 160, pods: 2, traffic: () => healthy(60), up: (m) => m < 120 || (m - 120) % 20 !== 5 },
    ours: [{ at: 119, firing: [] }, { at: 150, firing: ['critical/availability'], only: 'severity="critical"' }],
    naive: [{ at: 150, firing: [] }],
  },
  {
    name: 'Prometheus restarts at 4h: no samples of anything for 5 minutes',
    sla: 'full',
    should: 'nothing',
    profile: { minutes: 300, pods: 2, traffic: () => healthy(60), gap: [240, 245] },
    ours: [...hourly([], 300), { at: 243, firing: [] }, { at: 247, firing: [] }, { at: 252, firing: [] }, { at: 270, firing: [] }],
    naive: [{ at: 243, firing: [] }, { at: 250, firing: [] }],
  },
];

/** The seed article's rules (section 4.1) on the worker's metric names, as written: no sum by (le), no aggregation. */
export const NAIVE_RULES = {
  groups: [{
    name: 'qwen_sla_alerts',
    rules: [
      { alert: 'HighResponseTime', expr: 'histogram_quantile(0.95, rate(gen_ai_server_request_duration_seconds_bucket[5m])) > 3', for: '2m', labels: { severity: 'warning' } },
      { alert: 'CriticalResponseTime', expr: 'histogram_quantile(0.95, rate(gen_ai_server_request_duration_seconds_bucket[5m])) > 5', for: '1m', labels: { severity: 'critical' } },
      // qwen_requests_total{status="error"} / qwen_requests_total: the seed's ratio, error_type for status.
      { alert: 'HighErrorRate', expr: 'rate(gen_ai_server_request_duration_seconds_count{error_type!=""}[5m]) / rate(gen_ai_server_request_duration_seconds_count[5m]) > 0.01', for: '3m', labels: { severity: 'warning' } },
      { alert: 'LowRequestSuccessRate', expr: 'rate(gen_ai_server_request_duration_seconds_count{error_type=""}[10m]) / rate(gen_ai_server_request_duration_seconds_count[10m]) < 0.995', for: '5m', labels: { severity: 'critical' } },
    ],
  }],
};
