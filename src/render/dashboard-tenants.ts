// The dashboard's per-tenant panels (spec.tenants with a router, whose series carry `tenant`):
// requests, tokens, refusals by reason and TTFT p95 per tenant. Pure.
import type { Plan } from '../plan/index.ts';
import { routerServiceOf, selector } from '../sla/sli.ts';
import { namespaceOf } from './common.ts';
import { ROUTER_LABEL, ROUTER_METRIC } from '../../router/src/contract.ts';
import type { Panel } from './dashboard.ts';

const T = ROUTER_LABEL.tenant;

/** None without spec.tenants or without the router's series (plan.sla.source). */
export function tenantPanels(plan: Plan): Panel[] {
  const { qs } = plan;
  if (!qs.spec.tenants?.length || plan.sla.source !== 'router') return [];
  const sel = selector({ namespace: namespaceOf(qs), service: routerServiceOf(qs.metadata.name) });
  const rate = (metric: string, by: string = T) => `sum by (${by}) (rate(${metric}${sel}[5m]))`;
  return [
    { title: 'Requests per tenant', type: 'timeseries', unit: 'reqps', targets: [{ expr: rate(ROUTER_METRIC.tenantRequests), legend: `{{${T}}}` }] },
    {
      title: 'Tokens per tenant', type: 'timeseries', unit: 'none',
      description: 'Prompt and completion tokens a second, the workers\' counts; what tokensPerMinute limits (per router replica: the limit / replicas).',
      targets: [
        { expr: rate(ROUTER_METRIC.tenantPromptTokens), legend: `{{${T}}} prompt` },
        { expr: rate(ROUTER_METRIC.tenantCompletionTokens), legend: `{{${T}}} completion` },
      ],
    },
    {
      title: 'Refusals per tenant', type: 'timeseries', unit: 'reqps',
      description: '429s of the tenants\' limits (requests, tokens, concurrency) and of priorities when the TTFT objective is at risk (priority); not service errors.',
      targets: [{ expr: rate(ROUTER_METRIC.tenantRefusals, `${T}, ${ROUTER_LABEL.reason}`), legend: `{{${T}}} {{${ROUTER_LABEL.reason}}}` }],
    },
    {
      title: 'Time to first token p95 per tenant', type: 'timeseries', unit: 's',
      targets: [{ expr: `histogram_quantile(0.95, ${rate(`${ROUTER_METRIC.timeToFirstToken}_bucket`, `${T}, le`)})`, legend: `{{${T}}}` }],
    },
  ];
}
