// `qwen-operator usage`: what each tenant of each QwenService used over a period — requests, prompt
// and completion tokens, the share of the prompt served from the cache, refusals by reason, and the
// service errors its requests met (who was hurt) — read from Prometheus, from the router's tenant
// series (router/src/contract.ts ROUTER_METRIC; the `service` label is the router's Service).
import { NOT_SERVICE_FAULT } from '../../worker/src/contract.ts';
import { REFUSAL_REASONS, ROUTER_LABEL, ROUTER_METRIC } from '../../router/src/contract.ts';
import { routerServiceOf } from '../sla/sli.ts';
import { PrometheusClient, type Sample } from '../slastatus/prometheus.ts';
import { CliError, parseOptions, type Command } from './command.ts';
import { DEFAULT_PROMETHEUS_URL } from './render.ts';

const OUTPUTS = ['text', 'json'] as const;
/** A Prometheus range: a number and a unit (30d, 12h, 1w, 90m). */
const SINCE = /^\d+(ms|s|m|h|d|w|y)$/;

export type TenantUsage = {
  namespace: string;
  qwenService: string;
  tenant: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  refusals: Partial<Record<(typeof REFUSAL_REASONS)[number], number>>;
  /** Answered requests that were a service error (counted against the SLA). */
  serviceErrors: number;
};

/** The PromQL of each column over `since`, per namespace, router Service and tenant. */
export function usageQueries(since: string, namespace: string | undefined): Record<string, string> {
  const ns = namespace === undefined ? '' : `namespace=${JSON.stringify(namespace)}`;
  const sel = (extra = '') => `{${[ns, extra].filter((s) => s !== '').join(',')}}`;
  const by = `namespace, service, ${ROUTER_LABEL.tenant}`;
  // Exact counts for billing: a counter without a reset in the period grew by max - min; increase()
  // would extrapolate to the period's edges (2x for a series a few scrapes old). A series that
  // reset (a router container restarted) takes increase(), which handles resets.
  const inc = (metric: string, extra = '', more = '') => {
    const x = `${metric}${sel(extra)}[${since}]`;
    return `sum by (${by}${more}) (((max_over_time(${x}) - min_over_time(${x})) unless (resets(${x}) > 0)) or increase(${x}))`;
  };
  return {
    requests: inc(ROUTER_METRIC.tenantRequests),
    promptTokens: inc(ROUTER_METRIC.tenantPromptTokens),
    completionTokens: inc(ROUTER_METRIC.tenantCompletionTokens),
    cachedTokens: inc(ROUTER_METRIC.tenantCachedTokens),
    refusals: inc(ROUTER_METRIC.tenantRefusals, '', `, ${ROUTER_LABEL.reason}`),
    serviceErrors: inc(`${ROUTER_METRIC.requestDuration}_count`, `error_type!~${JSON.stringify(`|${NOT_SERVICE_FAULT.join('|')}`)}`),
  };
}

const SUFFIX = routerServiceOf('');

/** The rows of the queries' answers, one per (namespace, QwenService, tenant), sorted. */
export function usageRows(answers: Record<string, Sample[]>): TenantUsage[] {
  const rows = new Map<string, TenantUsage>();
  const row = (m: Record<string, string>) => {
    const namespace = m.namespace ?? '';
    const service = m.service ?? '';
    const qwenService = service.endsWith(SUFFIX) ? service.slice(0, -SUFFIX.length) : service;
    const tenant = m[ROUTER_LABEL.tenant] ?? '';
    const key = `${namespace}/${qwenService}/${tenant}`;
    let r = rows.get(key);
    if (!r) rows.set(key, r = { namespace, qwenService, tenant, requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, refusals: {}, serviceErrors: 0 });
    return r;
  };
  const round = (v: number) => Math.round(v);
  for (const col of ['requests', 'promptTokens', 'completionTokens', 'cachedTokens', 'serviceErrors'] as const) {
    for (const s of answers[col] ?? []) row(s.metric)[col] += round(s.value);
  }
  for (const s of answers.refusals ?? []) {
    const reason = s.metric[ROUTER_LABEL.reason] as (typeof REFUSAL_REASONS)[number];
    const v = round(s.value);
    if (v > 0) row(s.metric).refusals[reason] = (row(s.metric).refusals[reason] ?? 0) + v;
  }
  return [...rows.values()].sort((a, b) => `${a.namespace}/${a.qwenService}/${a.tenant}`.localeCompare(`${b.namespace}/${b.qwenService}/${b.tenant}`));
}

export function usageTable(rows: TenantUsage[]): string {
  const head = ['NAMESPACE', 'QWENSERVICE', 'TENANT', 'REQUESTS', 'PROMPT TOKENS', 'COMPLETION TOKENS', 'CACHED', 'REFUSED', 'SERVICE ERRORS'];
  const cells = rows.map((r) => [
    r.namespace, r.qwenService, r.tenant, String(r.requests), String(r.promptTokens), String(r.completionTokens),
    r.promptTokens > 0 ? `${((100 * r.cachedTokens) / r.promptTokens).toFixed(1)}%` : '-',
    Object.entries(r.refusals).map(([k, v]) => `${k}=${v}`).join(',') || '0',
    String(r.serviceErrors),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((c) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export const usageCommand: Command = {
  help: [
    'Usage: qwen-operator usage [--namespace NS] [--since 30d] [--prometheus-url URL] [--output text|json]',
    '',
    'What each tenant of each QwenService with a router used: requests answered, prompt and completion',
    'tokens (the workers\' counts), the share of the prompt served from the cache, requests refused by the',
    'tenant\'s limits or its priority (by reason), and service errors its requests met. Read from Prometheus.',
    '',
    '  --namespace NS             only this namespace (default: all)',
    '  --since D                  the period, a Prometheus range like 30d, 12h, 1w (default 30d)',
    `  --prometheus-url URL       the Prometheus that scrapes the routers (default ${DEFAULT_PROMETHEUS_URL})`,
    '  --output text|json         json for scripts and billing (default text)',
  ].join('\n'),
  async run(args) {
    const { values } = parseOptions(args, { namespace: { type: 'string', short: 'n' }, since: { type: 'string' }, 'prometheus-url': { type: 'string' }, output: { type: 'string' } });
    const since = values.since ?? '30d';
    if (!SINCE.test(since)) throw new CliError(`--since ${since} is not a Prometheus range: give a number and a unit, like 30d, 12h or 1w`);
    const output = (values.output ?? 'text') as (typeof OUTPUTS)[number];
    if (!OUTPUTS.includes(output)) throw new CliError(`--output must be one of ${OUTPUTS.join(', ')}`);
    const url = values['prometheus-url'] ?? DEFAULT_PROMETHEUS_URL;
    let client: PrometheusClient;
    try { client = new PrometheusClient(url, { timeoutMs: 30_000 }); } catch { throw new CliError(`--prometheus-url ${url} is not a URL`); }
    const queries = usageQueries(since, values.namespace);
    const answers: Record<string, Sample[]> = {};
    try {
      for (const [col, q] of Object.entries(queries)) answers[col] = await client.query(q);
    } catch (e) {
      throw new CliError(`cannot read usage from Prometheus at ${url}: ${(e as Error).message}`, 1);
    }
    const rows = usageRows(answers);
    if (output === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (rows.length === 0) process.stdout.write(`no tenant usage in the last ${since}${values.namespace ? ` in namespace ${values.namespace}` : ''} (only QwenServices with spec.router count it)\n`);
    else process.stdout.write(`${usageTable(rows)}\n`);
    return 0;
  },
};
