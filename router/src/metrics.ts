// The router's Prometheus series (names: ROUTER_METRIC), on its own registry: what clients see,
// measured at the router — hold time and retries included — with the worker's labels and buckets
// (worker/src/contract.ts), so an SLI query changes only its metric name when the router is its source.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DEFAULT_DURATION_BUCKETS, DEFAULT_TTFT_BUCKETS, ERROR_TYPES, LABEL } from '../../worker/src/contract.ts';
import type { ErrorType } from '../../worker/src/contract.ts';
import { AFFINITY_RESULTS, DEFAULT_TENANT, REFUSAL_REASONS, RETRY_REASONS, ROUTER_LABEL, ROUTER_METRIC } from './contract.ts';
import type { LoadCounter } from './load.ts';

export type { ErrorType } from '../../worker/src/contract.ts';
export type RetryReason = (typeof RETRY_REASONS)[number];
type AffinityResult = (typeof AFFINITY_RESULTS)[number];
type RefusalReason = (typeof REFUSAL_REASONS)[number];

export const mergeBuckets = (defaults: readonly number[], extra: readonly number[]) => [...new Set([...defaults, ...extra])].sort((a, b) => a - b);

/** error_type of an answer's status (the worker's mapping; 499 is the client leaving). */
export function errorTypeOf(status: number): ErrorType {
  if (status < 400) return '';
  if (status === 499) return 'cancelled';
  if (status === 429) return 'overloaded';
  if (status === 503) return 'unavailable';
  if (status === 504) return 'timeout';
  if (status >= 500) return 'internal';
  return 'invalid_request';
}

export type RouterMetrics = ReturnType<typeof createMetrics>;

/**
 * `tenants`: the declared tenants (the `tenant` label's only values, undeclared ones count as
 * `default`): the SLI histograms and the usage counters carry it, so cardinality stays bounded.
 */
export function createMetrics(opts: { model: string; sloBuckets: readonly number[]; load: LoadCounter; readyEndpoints: () => number; tenants?: readonly string[] }) {
  const registry = new Registry();
  const { model, load } = opts;
  const tenants = [...new Set([DEFAULT_TENANT, ...(opts.tenants ?? [])])];
  const perModel = { labelNames: [LABEL.model] as const, registers: [registry] };
  const requestDuration = new Histogram({
    name: ROUTER_METRIC.requestDuration, registers: [registry],
    help: 'Time from the router receiving a request to the last byte of its answer (hold time and retries included).',
    labelNames: [LABEL.model, LABEL.errorType, ROUTER_LABEL.tenant] as const,
    buckets: mergeBuckets(DEFAULT_DURATION_BUCKETS, opts.sloBuckets),
  });
  const ttft = new Histogram({
    name: ROUTER_METRIC.timeToFirstToken, registers: [registry], labelNames: [LABEL.model, ROUTER_LABEL.tenant] as const,
    help: 'Time from the router receiving a request to the first content sent to its client: the first generated text of a stream, the whole body otherwise (hold time and retries included).',
    buckets: mergeBuckets(DEFAULT_TTFT_BUCKETS, opts.sloBuckets),
  });
  const hold = new Histogram({
    ...perModel, name: ROUTER_METRIC.holdDuration,
    help: 'Time requests waited for a ready worker (0 when one was ready).',
    buckets: mergeBuckets([0, ...DEFAULT_TTFT_BUCKETS, ...DEFAULT_DURATION_BUCKETS], opts.sloBuckets),
  });
  new Gauge({ ...perModel, name: ROUTER_METRIC.requestsInFlight, help: 'Requests sent to a worker and not finished.', collect() { this.set({ model }, load.current().inFlight); } });
  new Gauge({ ...perModel, name: ROUTER_METRIC.requestsHeld, help: 'Requests waiting for a ready worker.', collect() { this.set({ model }, load.current().held); } });
  new Gauge({ ...perModel, name: ROUTER_METRIC.readyEndpoints, help: 'Ready worker endpoints the router sends to.', collect() { this.set({ model }, opts.readyEndpoints()); } });
  const affinity = new Counter({
    name: ROUTER_METRIC.affinity, registers: [registry], labelNames: [LABEL.model, ROUTER_LABEL.result] as const,
    help: 'Requests by how their worker was chosen: hit (the key\'s own worker), spill (it was over the load bound), none (no key: least outstanding requests).',
  });
  const retries = new Counter({
    name: ROUTER_METRIC.retries, registers: [registry], labelNames: [LABEL.model, ROUTER_LABEL.reason] as const,
    help: 'Requests sent again to another worker before any byte of the answer, by reason (connect error, 503, 429).',
  });
  const perTenant = { labelNames: [LABEL.model, ROUTER_LABEL.tenant] as const, registers: [registry] };
  const tenantRequests = new Counter({ ...perTenant, name: ROUTER_METRIC.tenantRequests, help: 'Requests of a tenant answered by a worker (any status); refusals are counted apart.' });
  const promptTokens = new Counter({ ...perTenant, name: ROUTER_METRIC.tenantPromptTokens, help: 'Prompt tokens of a tenant\'s answered requests (the worker\'s usage).' });
  const completionTokens = new Counter({ ...perTenant, name: ROUTER_METRIC.tenantCompletionTokens, help: 'Completion tokens of a tenant\'s answered requests (the worker\'s usage).' });
  const cachedTokens = new Counter({ ...perTenant, name: ROUTER_METRIC.tenantCachedTokens, help: 'Prompt tokens of a tenant served from the prompt cache (usage.prompt_tokens_details.cached_tokens).' });
  const refusals = new Counter({
    name: ROUTER_METRIC.tenantRefusals, registers: [registry], labelNames: [LABEL.model, ROUTER_LABEL.tenant, ROUTER_LABEL.reason] as const,
    help: 'Requests of a tenant refused by its limits or its priority (429; not a service error: never in the SLI series).',
  });
  // Every series exists from the start (Prometheus' increase() never counts a series' first sample).
  for (const t of tenants) {
    for (const e of ERROR_TYPES) requestDuration.zero({ model, error_type: e, tenant: t });
    ttft.zero({ model, tenant: t });
    for (const c of [tenantRequests, promptTokens, completionTokens, cachedTokens]) c.labels(model, t).inc(0);
    for (const r of REFUSAL_REASONS) refusals.labels(model, t, r).inc(0);
  }
  hold.zero({ model });
  for (const r of AFFINITY_RESULTS) affinity.labels(model, r).inc(0);
  for (const r of RETRY_REASONS) retries.labels(model, r).inc(0);

  const tenantOf = (t: string) => (tenants.includes(t) ? t : DEFAULT_TENANT);
  const affinityBy = new Map(AFFINITY_RESULTS.map((r) => [r, affinity.labels(model, r)]));
  const retriesBy = new Map(RETRY_REASONS.map((r) => [r, retries.labels(model, r)]));
  return {
    registry,
    requestDuration: (errorType: ErrorType, seconds: number, tenant: string = DEFAULT_TENANT) => requestDuration.labels(model, errorType, tenantOf(tenant)).observe(seconds),
    ttft: (seconds: number, tenant: string = DEFAULT_TENANT) => ttft.labels(model, tenantOf(tenant)).observe(seconds),
    /** A tenant's answered request and the tokens the worker counted (usage undefined: the request only). */
    usage: (tenant: string, u: { prompt: number; completion: number; cached: number } | undefined) => {
      const t = tenantOf(tenant);
      tenantRequests.labels(model, t).inc();
      if (!u) return;
      promptTokens.labels(model, t).inc(u.prompt);
      completionTokens.labels(model, t).inc(u.completion);
      cachedTokens.labels(model, t).inc(u.cached);
    },
    refusal: (tenant: string, reason: RefusalReason) => refusals.labels(model, tenantOf(tenant), reason).inc(),
    hold: hold.labels(model),
    affinity: (result: AffinityResult) => affinityBy.get(result)!.inc(),
    retry: (reason: RetryReason) => retriesBy.get(reason)!.inc(),
  };
}
