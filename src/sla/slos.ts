// The SLOs an SLA block declares: one per target, each with its objective, error budget and, for
// the histogram-based ones, the bucket threshold the good events are counted under. Pure.
import { PERCENTILES, PERCENTILE_OBJECTIVE, type Sla } from '../api/qwenservice.ts';
import { parseDuration, parsePercent } from '../api/units.ts';
import { tokensThreshold } from './buckets.ts';

export const REQUEST_DURATION = 'gen_ai_server_request_duration_seconds';
export const TTFT = 'gen_ai_server_time_to_first_token_seconds';
export const TPOT = 'gen_ai_server_time_per_output_token_seconds';
/** error_type values that are the client's doing: never counted against the SLA. */
export const NOT_OUR_FAULT = ['invalid_request', 'cancelled'] as const;

export type SloKind = 'latency' | 'ttft' | 'tokens' | 'errors' | 'availability';

export type Slo = {
  /** The `slo` label of QwenSLOBudgetBurn: latency-p95, ttft-p99, output-tokens-per-second, error-rate, availability. */
  name: string;
  kind: SloKind;
  /** Share of good events (or good time) required over the SLA window, e.g. 0.95. */
  objective: number;
  /** 1 - objective: the share of events (or time) allowed to be bad. */
  budget: number;
  /** Histogram bucket (seconds) that separates good from bad events (latency, TTFT, tokens). */
  threshold?: number;
  /** One line for humans, e.g. "95% of requests take <= 3s". */
  description: string;
};

export function slosOf(sla: Sla | undefined): Slo[] {
  if (!sla) return [];
  const out: Slo[] = [];
  const blocks = [
    ['latency', 'latency', sla.latency, 'of requests complete within'],
    ['ttft', 'ttft', sla.timeToFirstToken, 'of requests get their first token within'],
  ] as const;
  for (const [kind, prefix, block, words] of blocks) {
    for (const p of PERCENTILES) {
      const text = block?.[p];
      if (!text) continue;
      const objective = PERCENTILE_OBJECTIVE[p];
      out.push(slo(`${prefix}-${p}`, kind, objective, `${pct(objective)} ${words} ${text}`, parseDuration(text)));
    }
  }
  const tps = sla.outputTokensPerSecond;
  if (tps) {
    const objective = parsePercent(tps.objective);
    out.push(slo('output-tokens-per-second', 'tokens', objective, `${pct(objective)} of requests decode at >= ${tps.min} tokens/s`, tokensThreshold(tps.min)));
  }
  if (sla.errorRate) {
    const e = parsePercent(sla.errorRate);
    out.push(slo('error-rate', 'errors', round(1 - e), `at most ${sla.errorRate} of requests fail through the service's fault`));
  }
  if (sla.availability) {
    const a = parsePercent(sla.availability);
    out.push(slo('availability', 'availability', a, `at least one worker is up ${sla.availability} of the time`));
  }
  return out;
}

function slo(name: string, kind: SloKind, objective: number, description: string, threshold?: number): Slo {
  const s: Slo = { name, kind, objective, budget: round(1 - objective), description };
  if (threshold !== undefined) s.threshold = threshold;
  return s;
}

// 1 - 0.999 is 0.0010000000000000009 in floats; the budget is printed and multiplied into
// thresholds, so keep it at the precision the percentage was written with.
const round = (x: number) => Number(x.toPrecision(12));

export function pct(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(10))}%`;
}
