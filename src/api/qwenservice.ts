// The QwenService API: one zod schema is the single source of truth for the TypeScript types,
// the defaults, `qwen-operator validate`, and (through crd.ts) the CRD's OpenAPI schema.
// Cross-field rules are written twice on purpose, once as a zod refinement (for `validate`,
// which runs without a cluster) and once as CEL (for the apiserver); the bad-document table is
// replayed against both so they cannot drift apart.
import { z } from 'zod';
import { INTERVAL_PATTERN, PERCENT_PATTERN, SLA_WINDOWS, THRESHOLD_PATTERN, parseDuration } from './units.ts';
import {
  CIDR_PATTERN, CONFIG_KEY_PATTERN, DNS_SUBDOMAIN_PATTERN, EMAIL_ADDRESS_PATTERN, HOST_PORT_PATTERN, HTTP_URL_PATTERN, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, MODEL_NAME_PATTERN, MODEL_SOURCE_PATTERN,
  NO_CLAIM_ESCAPE_CEL, QUANTITY_PATTERN, TEMPLATE_FREE_CEL, escapesClaim, templateFree,
} from './patterns.ts';
import { ROUTER_AFFINITY, ROUTER_DEFAULT } from '../../router/src/contract.ts';

export const GROUP = 'qwenops.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'QwenService';
export const PLURAL = 'qwenservices';
export const DEFAULT_MODEL_SOURCE = 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M';

type Cel = { rule: string; message: string; fieldPath?: string; reason?: string };
const cel = (...rules: Cel[]) => ({ 'x-kubernetes-validations': rules });

const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const LABEL_VALUE_MAX = 63;

const threshold = (what: string) =>
  z.string().max(16).regex(new RegExp(THRESHOLD_PATTERN), 'must be a duration like 3s or 500ms').describe(what);
const percent = (what: string) =>
  z.string().max(16).regex(new RegExp(PERCENT_PATTERN), 'must be a percentage strictly between 0% and 100%, like 99.5%').describe(what);
const labelValue = () =>
  z.string().max(LABEL_VALUE_MAX).regex(new RegExp(LABEL_VALUE_PATTERN), 'must be a label value: at most 63 letters, digits, - _ . starting and ending with a letter or digit');
const labels = (what: string) =>
  z.record(z.string().max(317), labelValue()).describe(what);

/** Refuses Go template delimiters in a value that ends up where `why` runs it as a template. */
const templateFreeText = (s: z.ZodString, why: string) => {
  const message = `must not contain {{ or }} (${why})`;
  return s.refine(templateFree, message).meta(cel({ rule: TEMPLATE_FREE_CEL, message }));
};

/** An http(s) link that ends up in alert annotations, which Prometheus runs as Go templates. */
const annotationURL = (what: string) =>
  templateFreeText(
    z.string().max(512).regex(new RegExp(HTTP_URL_PATTERN), 'must be an http:// or https:// URL without spaces'),
    'alert annotations are Go templates',
  ).describe(what);

/** Receiver fields Alertmanager expands as Go templates when it sends: a template there fails the send, and the page is lost. */
const AT_SEND_TIME = 'Alertmanager runs this field as a Go template when it sends';

/** A Kubernetes quantity (a string in the real grammar, or a whole number). */
const quantity = (what: string) =>
  z.union([
    z.string().max(64).regex(new RegExp(QUANTITY_PATTERN), 'must be a Kubernetes quantity like 8Gi, 500m, 1.5 or 1e3'),
    // Not .int(): zod would then report a fraction as a type mismatch of both branches ("Invalid input").
    z.number().nonnegative().refine(Number.isInteger, 'must be a whole number (or a quantity string like "1.5" or "500m")'),
  ]).describe(what);

export const secretKeyRef = z
  .object({
    secretKeyRef: z
      .object({
        name: z.string().min(1, 'must name the Secret').max(253).regex(new RegExp(DNS_SUBDOMAIN_PATTERN), 'must be a Secret name (a DNS subdomain)').describe('Name of a Secret in the QwenService namespace.'),
        key: z.string().min(1, 'must name the key in the Secret').max(253).regex(new RegExp(CONFIG_KEY_PATTERN), 'must be a Secret key: letters, digits, - _ . (not . or ..)').describe('Key in that Secret whose value is the credential.'),
      })
      .strict()
      .describe('Secret key holding the value; credentials are never written inline.'),
  })
  .strict();

/** Percentile thresholds: pNN means NN% of requests must be at or under the threshold. */
const PERCENTILES = ['p50', 'p90', 'p95', 'p99', 'p999'] as const;
export type Percentile = (typeof PERCENTILES)[number];
export const PERCENTILE_OBJECTIVE: Record<Percentile, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99, p999: 0.999 };

const percentileRule = (lower: Percentile, upper: Percentile): Cel => ({
  rule: `!has(self.${lower}) || !has(self.${upper}) || duration(self.${upper}) >= duration(self.${lower})`,
  message: `${upper} must be greater than or equal to ${lower}`,
  fieldPath: `.${upper}`,
});

function percentileTargets(what: string) {
  const shape = Object.fromEntries(
    PERCENTILES.map((p) => [p, threshold(`${PERCENTILE_OBJECTIVE[p] * 100}% of ${what} must take at most this long (e.g. 3s, 800ms).`).optional()]),
  ) as Record<Percentile, z.ZodOptional<z.ZodString>>;
  return z
    .object(shape)
    .strict()
    .superRefine((v, ctx) => {
      for (let i = 0; i < PERCENTILES.length; i++) {
        for (let j = i + 1; j < PERCENTILES.length; j++) {
          const lo = PERCENTILES[i]!, hi = PERCENTILES[j]!;
          const a = v[lo], b = v[hi];
          if (a && b && safeSeconds(b) < safeSeconds(a)) {
            ctx.addIssue({ code: 'custom', path: [hi], message: `${hi} must be greater than or equal to ${lo}` });
          }
        }
      }
    })
    .meta(cel(...PERCENTILES.flatMap((lo, i) => PERCENTILES.slice(i + 1).map((hi) => percentileRule(lo, hi)))));
}

function safeSeconds(text: string): number {
  try { return parseDuration(text); } catch { return Number.NaN; }
}

const sla = z
  .object({
    window: z.enum(SLA_WINDOWS).default('30d').describe('Compliance window the objectives are measured over.'),
    latency: percentileTargets('requests (end-to-end duration)').optional().describe('End-to-end request duration targets by percentile.'),
    timeToFirstToken: percentileTargets('requests (time to first token)').optional().describe('Time-to-first-token targets by percentile.'),
    outputTokensPerSecond: z
      .object({
        min: z.number().positive('must be greater than 0').max(100000).describe('Per-request decode speed floor in generated tokens per second.'),
        objective: percent('Share of requests that must decode at least this fast.').default('95%'),
      })
      .strict()
      .optional()
      .describe('Decode speed floor: a request meets it when its time per output token is at most 1/min.'),
    errorRate: percent('Largest share of requests that may fail through the service\'s fault (invalid requests and client cancellations do not count).').optional(),
    availability: percent('Share of the window during which at least one worker must be up.').optional(),
  })
  .strict()
  .describe('Service level targets; each becomes an SLO with recording rules and multiwindow burn-rate alerts.');

const receiver = z
  .object({
    name: z.string().min(1).max(63).regex(new RegExp(NAME_PATTERN), 'must be a lowercase DNS label').describe('Name that routes refer to.'),
    slack: z
      .object({
        channel: templateFreeText(z.string().min(1).max(80), AT_SEND_TIME).describe('Slack channel, e.g. #llm-oncall.'),
        apiURL: secretKeyRef.describe('Secret key holding the Slack webhook URL.'),
      })
      .strict()
      .optional()
      .describe('Deliver to a Slack channel.'),
    email: z
      .object({
        to: templateFreeText(z.string().min(3).max(254).regex(new RegExp(EMAIL_ADDRESS_PATTERN), 'must be an e-mail address'), AT_SEND_TIME).describe('Recipient address.'),
        from: templateFreeText(z.string().max(254), AT_SEND_TIME).optional().describe('Sender address (Alertmanager default when empty).'),
        smarthost: z.string().max(254).regex(new RegExp(HOST_PORT_PATTERN), 'must be host:port, e.g. smtp.example.com:587').optional().describe('SMTP server host:port (Alertmanager default when empty).'),
        authUsername: z.string().max(254).optional().describe('SMTP user name.'),
        authPassword: secretKeyRef.optional().describe('Secret key holding the SMTP password.'),
      })
      .strict()
      .optional()
      .describe('Deliver by e-mail.'),
    webhook: z
      .object({ url: secretKeyRef.describe('Secret key holding the webhook URL.') })
      .strict()
      .optional()
      .describe('Deliver to an HTTP webhook.'),
    pagerduty: z
      .object({ routingKey: secretKeyRef.describe('Secret key holding the PagerDuty Events v2 routing key.') })
      .strict()
      .optional()
      .describe('Deliver to PagerDuty.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const kinds = ['slack', 'email', 'webhook', 'pagerduty'].filter((k) => r[k as keyof typeof r] !== undefined);
    if (kinds.length !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'must set exactly one of slack, email, webhook, pagerduty' });
  })
  .meta(cel({ rule: '[has(self.slack), has(self.email), has(self.webhook), has(self.pagerduty)].filter(x, x).size() == 1', message: 'must set exactly one of slack, email, webhook, pagerduty' }));

const routeList = (severity: string) =>
  z.array(z.string().max(63)).max(16).describe(`Receivers for ${severity} alerts.`).optional();

const routeRule = (severity: string): Cel => ({
  rule: `!has(self.routes) || !has(self.routes.${severity}) || self.routes.${severity}.all(r, has(self.receivers) && self.receivers.exists(x, x.name == r))`,
  message: `routes.${severity} must name only declared receivers`,
  fieldPath: `.routes.${severity}`,
});

const alerting = z
  .object({
    receivers: z.array(receiver).max(16).optional().describe('Where alerts can be delivered.').meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    routes: z
      .object({ critical: routeList('critical (paging)'), warning: routeList('warning (ticket)') })
      .strict()
      .optional()
      .describe('Which receivers get each severity.'),
    runbookURL: annotationURL('Runbook linked from every alert (default: the operator\'s runbook); an http(s) URL.').optional(),
    dashboardURL: annotationURL('Grafana base URL used to link alerts to the generated dashboard; an http(s) URL.').optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    const names = new Set<string>();
    (a.receivers ?? []).forEach((r, i) => {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: ['receivers', i, 'name'], message: `duplicate receiver name "${r.name}"` });
      names.add(r.name);
    });
    for (const severity of ['critical', 'warning'] as const) {
      const undeclared = (a.routes?.[severity] ?? []).filter((r) => !names.has(r));
      if (undeclared.length) {
        ctx.addIssue({ code: 'custom', path: ['routes', severity], message: `routes.${severity} must name only declared receivers (not declared: ${undeclared.join(', ')})` });
      }
    }
  })
  .meta(cel(routeRule('critical'), routeRule('warning')))
  .describe('Alert routing: receivers (credentials through Secrets) and which severities reach them.');

const toleration = z
  .object({
    key: z.string().max(317).optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().max(LABEL_VALUE_MAX).optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().min(0).optional(),
  })
  .strict()
  .describe('A Kubernetes toleration.');

const resourceList = z.record(z.string().max(253), quantity('A quantity, e.g. 8Gi, 500m, 2.'));

const selectorRequirement = z
  .object({
    key: z.string().min(1).max(317).regex(new RegExp(LABEL_KEY_PATTERN), 'must be a label key, e.g. app.kubernetes.io/name').describe('Label key.'),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the key relates to the values.'),
    values: z.array(labelValue()).max(64).optional().describe('Values for In and NotIn; empty for Exists and DoesNotExist.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const needsValues = r.operator === 'In' || r.operator === 'NotIn';
    if (needsValues !== (r.values?.length ?? 0) > 0) ctx.addIssue({ code: 'custom', path: ['values'], message: 'must be non-empty for In and NotIn and empty for Exists and DoesNotExist' });
  })
  .meta(cel({
    rule: "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
    message: 'must be non-empty for In and NotIn and empty for Exists and DoesNotExist',
    fieldPath: '.values',
  }))
  .describe('A label selector requirement.');

const labelSelector = (what: string) =>
  z
    .object({
      matchLabels: labels('Labels the selected objects must have.').optional(),
      matchExpressions: z.array(selectorRequirement).max(16).optional().describe('Requirements the selected objects\' labels must meet (all of them).'),
    })
    .strict()
    .describe(what);

const PEER_RULE = 'must set ipBlock alone, or podSelector and/or namespaceSelector';
const networkPeer = z
  .object({
    podSelector: labelSelector('Pods allowed (in the QwenService namespace, or in the namespaces namespaceSelector selects); {} selects all.').optional(),
    namespaceSelector: labelSelector('Namespaces whose pods are allowed; {} selects all namespaces.').optional(),
    ipBlock: z
      .object({
        cidr: z.string().max(64).regex(new RegExp(CIDR_PATTERN), 'must be a CIDR like 10.0.0.0/8').describe('Allowed source range.'),
        except: z.array(z.string().max(64).regex(new RegExp(CIDR_PATTERN), 'must be a CIDR like 10.1.0.0/16')).max(16).optional().describe('Ranges inside cidr that stay refused.'),
      })
      .strict()
      .optional()
      .describe('A source IP range (for clients outside the cluster).'),
  })
  .strict()
  .superRefine((p, ctx) => {
    const selectors = p.podSelector !== undefined || p.namespaceSelector !== undefined;
    if ((p.ipBlock !== undefined) === selectors) ctx.addIssue({ code: 'custom', path: [], message: PEER_RULE });
  })
  .meta(cel({ rule: 'has(self.ipBlock) != (has(self.podSelector) || has(self.namespaceSelector))', message: PEER_RULE }))
  .describe('A NetworkPolicyPeer (networking.k8s.io/v1).');

const network = z
  .object({
    policy: z.boolean().default(true).describe('Create a NetworkPolicy for the worker pods (default true); false removes it.'),
    allowFrom: z
      .array(networkPeer)
      .max(32)
      .optional()
      .describe('Clients allowed to reach the API port besides the pods of the QwenService namespace.'),
  })
  .strict()
  .describe('Who may reach the workers: the API port from pods of this namespace plus allowFrom; the metrics port from the Prometheus namespaces the operator is configured with.');

// spec.tenants and the named keys of spec.auth: who calls (the Secret's data key that holds the caller's
// key names its tenant), with which limits, and who is refused first when the TTFT objective is at risk.
// The router enforces them (router/src/tenants/); the operator passes them as one JSON flag (render/tenants.ts).
export const TENANT_PRIORITIES = ['Critical', 'Standard', 'Batch'] as const;
/** The tenant of the single-key form, and of every key whose tenant is not declared. */
export const DEFAULT_TENANT_NAME = 'default';
const TENANTS_MAX = 256;
const AUTH_ONE_FORM = 'give exactly one of apiKey (one Secret key, one tenant: default) and apiKeys (named keys: one Secret, a data key per tenant)';
const perMinute = (what: string) => z.number().int().min(1, 'must be 1 or more').max(1_000_000_000).optional().describe(what);
const tenant = z
  .object({
    name: z.string().min(1).max(LABEL_VALUE_MAX).regex(new RegExp(NAME_PATTERN), 'must be a tenant name: lowercase letters, digits and -, starting and ending with a letter or digit (the data key of its API keys in the Secret of spec.auth.apiKeys)')
      .describe(`The tenant: the data key of its API keys in the Secret of spec.auth.apiKeys; '${DEFAULT_TENANT_NAME}' applies to the single-key form and to every key of an undeclared tenant.`),
    priority: z.enum(TENANT_PRIORITIES).default('Standard').describe('Who is refused first when the wait a request faces exceeds the TTFT objective: Batch, then Standard; Critical never (default Standard).'),
    requestsPerMinute: perMinute('Requests per minute (absent: unlimited).'),
    tokensPerMinute: perMinute('Prompt + completion tokens per minute (absent: unlimited). A request reserves its prompt estimate and max_tokens up front and is refunded what it did not use.'),
    maxConcurrent: z.number().int().min(1, 'must be 1 or more').max(100_000).optional().describe('Requests at once (absent: unlimited).'),
  })
  .strict()
  .describe('One tenant\'s priority and limits; each router replica enforces its share (the limit divided by the router replicas).');
const tenants = z
  .array(tenant)
  .max(TENANTS_MAX)
  .superRefine((ts, ctx) => {
    const seen = new Set<string>();
    ts.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `tenant '${t.name}' is listed twice` });
      seen.add(t.name);
    });
  })
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
  .describe(`Tenants of the API and their limits (enforced by spec.router). Names are the data keys of the Secret of spec.auth.apiKeys; '${DEFAULT_TENANT_NAME}' covers the rest.`);
const apiKeys = z
  .object({
    secretRef: z
      .object({
        name: z.string().min(1, 'must name the Secret').max(253).regex(new RegExp(DNS_SUBDOMAIN_PATTERN), 'must be a Secret name (a DNS subdomain)').describe('Name of a Secret in the QwenService namespace.'),
      })
      .strict()
      .describe('The Secret whose data keys are tenant names and whose values are their API keys (one per line; # comments and blank lines ignored).'),
  })
  .strict()
  .describe('Named keys: the Secret is mounted whole, each data key a tenant; a request\'s key names its tenant (spec.tenants).');

const auth = z
  .object({
    apiKey: secretKeyRef.optional().describe('Secret key holding the API keys, one per line (# comments and blank lines ignored); the workers mount it and require Authorization: Bearer <key> on /v1. All of them are the tenant default.'),
    apiKeys: apiKeys.optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if ((a.apiKey === undefined) === (a.apiKeys === undefined)) ctx.addIssue({ code: 'custom', path: [], message: AUTH_ONE_FORM });
  })
  .meta(cel({ rule: 'has(self.apiKey) != has(self.apiKeys)', message: AUTH_ONE_FORM }))
  .describe('API authentication of the workers (and the router). Without it, the API is open to whoever the NetworkPolicy lets in.');

/** A duration from 1s to `maxSeconds` (written `max` for people), refined in zod and checked in CEL alike. */
function durationUpTo(example: string, maxSeconds: number, max: string) {
  const message = `must be between 1s and ${max}`;
  return z
    .string()
    .max(16)
    .regex(new RegExp(INTERVAL_PATTERN), `must be a duration like ${example}`)
    .refine((d) => safeSeconds(d) >= 1 && safeSeconds(d) <= maxSeconds, message)
    .meta(cel({ rule: `duration(self) >= duration('1s') && duration(self) <= duration('${maxSeconds}s')`, message }));
}

// spec.autoscaling: KEDA drives the worker Deployment's replicas (see src/render/scaledobject.ts).
// maxReplicas has no default on purpose: every replica holds a GPU, the cap is a budget decision.
const MAX_REPLICAS_RULE = 'maxReplicas must be greater than or equal to minReplicas';
/** The HPA caps stabilizationWindowSeconds at one hour. */
const STABILIZATION_MAX_S = 3600;
const SCALE_TO_ZERO_MAX_S = 24 * 3600;
const HOLD_TIMEOUT_MAX_S = 3600;
const autoscaling = z
  .object({
    minReplicas: z.number().int().min(0, 'must be 0 or more').max(1000).default(1).describe('Fewest worker pods; also what runs while KEDA is not installed (at least 1 then). 0 scales an idle model to zero and needs spec.router, which holds requests while a worker starts.'),
    maxReplicas: z.number().int().min(1, 'must be 1 or more').max(1000).describe('Most worker pods the autoscaler may run (each one holds gpu.count GPUs).'),
    targetInFlightPerReplica: z.number().int().min(1, 'must be 1 or more').max(1024).optional().describe('Running + waiting requests per worker the queue trigger aims at (default: model.parallel, i.e. scale out once requests start to queue).'),
    scaleOnSLOBurn: z.boolean().optional().describe('Scale out proportionally to the short-window (5m) burn rate of the latency, TTFT and tokens/s SLOs when it is above 1 (default: true when spec.sla has such an objective).'),
    scaleDownStabilization: z
      .string()
      .max(16)
      .regex(new RegExp(INTERVAL_PATTERN), 'must be a duration like 5m or 90s')
      .refine((d) => safeSeconds(d) <= STABILIZATION_MAX_S, 'must be at most 1h (the HPA\'s limit)')
      .meta(cel({ rule: `duration(self) <= duration('${STABILIZATION_MAX_S}s')`, message: 'must be at most 1h (the HPA\'s limit)' }))
      .default('5m')
      .describe('How long the load must stay lower before workers are removed (HPA scale-down stabilization window; at most 1h). No scale-in while an SLO burns faster than 1.'),
    scaleToZeroAfter: durationUpTo('15m or 90s', SCALE_TO_ZERO_MAX_S, '24h')
      .default('15m')
      .describe('With minReplicas 0: how long without a request before the last worker is removed (KEDA\'s cooldownPeriod). Ignored otherwise.'),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.maxReplicas < a.minReplicas) ctx.addIssue({ code: 'custom', path: ['maxReplicas'], message: MAX_REPLICAS_RULE });
  })
  .meta(cel({ rule: 'self.maxReplicas >= (has(self.minReplicas) ? self.minReplicas : 1)', message: MAX_REPLICAS_RULE, fieldPath: '.maxReplicas' }))
  .describe('Autoscale the workers with KEDA (ScaledObject -> HPA) on their queue and on SLO burn; spec.replicas is then ignored.');

// spec.rollout: Argo Rollouts runs the change as a canary gated on this service's own SLOs
// (see src/render/rollout.ts and src/sla/gates.ts).
const STEPS_EXCLUSIVE = 'set either steps or canary, not both';
const analysisDuration = (what: string) =>
  z
    .string()
    .max(16)
    .regex(new RegExp(INTERVAL_PATTERN), 'must be a duration like 10m or 90s')
    .refine((d) => safeSeconds(d) >= 30 && safeSeconds(d) <= 24 * 3600, 'must be between 30s and 24h')
    .meta(cel({ rule: "duration(self) >= duration('30s') && duration(self) <= duration('24h')", message: 'must be between 30s and 24h' }))
    .describe(what);
const canaryStep = z
  .object({
    weight: z.number().int().min(1, 'must be 1 or more').max(99, 'must be 99 or less (100 is the promotion itself)').describe('Share of the workers (percent) that run the new version during this step.'),
    pause: analysisDuration('How long the canary serves at this weight; its SLIs over this window decide the step.'),
  })
  .strict();
export const DEFAULT_CANARY_STEPS = [{ weight: 25, pause: '10m' }, { weight: 50, pause: '10m' }] as const;
const rollout = z
  .object({
    strategy: z.enum(['Canary']).default('Canary').describe('Progressive delivery strategy (only Canary).'),
    steps: z.array(canaryStep).min(1).max(10).optional().describe('Canary steps in order; after the last one the new version gets every worker. Default: 25% for 10m, 50% for 10m.'),
    canary: z
      .object({
        weight: canaryStep.shape.weight,
        analysis: analysisDuration('How long the canary is observed before it is judged.'),
      })
      .strict()
      .optional()
      .describe('Short form of steps: one step at this weight, observed for this long.'),
    gate: z
      .object({
        slos: z.array(z.string().max(64).regex(/^[a-z0-9-]+$/, 'must be an SLO name like latency-p95 (see `qwen-operator render --explain`)')).max(16).optional().describe('SLOs that gate each step (default: every latency, TTFT, tokens/s and error-rate SLO of spec.sla).'),
        factor: z.number().min(1, 'must be 1 or more').max(100).default(6).describe('The canary fails a step when its bad-event share over the step exceeds this many times the SLO\'s error budget (default 6, the 6h burn tier).'),
        minEvents: z.number().int().min(1).max(100000).default(20).describe('Fewest canary requests in the window for a verdict; with fewer the step waits (Argo: Inconclusive) and, after one more window, pauses for a human.'),
      })
      .strict()
      .prefault({})
      .describe('What a canary step must meet.'),
    requireBudget: z.boolean().default(true).describe('A rollout does not start while any SLO\'s error budget over the SLA window is spent; annotate the QwenService qwenops.io/rollout-ignore-budget="true" to let a change through anyway.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.steps && r.canary) ctx.addIssue({ code: 'custom', path: ['canary'], message: STEPS_EXCLUSIVE });
  })
  .meta(cel({ rule: '!(has(self.steps) && has(self.canary))', message: STEPS_EXCLUSIVE, fieldPath: '.canary' }))
  .describe('Roll out changes as an Argo Rollouts canary gated on this service\'s SLOs (needs Argo Rollouts and the operator\'s --prometheus-url). Absent: a plain rolling update.');

// spec.router: a router per QwenService in front of the workers (its own package, router/): prefix
// affinity, holding requests while no worker is ready, KEDA's external-push scaler.
const ROUTER_MAX_REPLICAS = 100;
/** The router only proxies: small requests, no limits by default (a CPU limit would throttle streaming). */
export const DEFAULT_ROUTER_REQUESTS = { cpu: '100m', memory: '128Mi' } as const;
/** The longest `-suffix` the operator appends to the QwenService's name for a router's objects (`-workers`). */
export const ROUTER_NAME_SUFFIX_MAX = '-workers'.length;
export const ROUTER_NAME_MAX = LABEL_VALUE_MAX - ROUTER_NAME_SUFFIX_MAX;
export const ROUTER_NAME_RULE = `metadata.name must be at most ${ROUTER_NAME_MAX} characters with spec.router (the workers' Service is named <name>-workers)`;
const router = z
  .object({
    replicas: z.number().int().min(1, 'must be 1 or more').max(ROUTER_MAX_REPLICAS).default(ROUTER_DEFAULT.replicas).describe(`Router pods (default ${ROUTER_DEFAULT.replicas}: one may be drained while the other serves).`),
    affinity: z.enum(ROUTER_AFFINITY).default(ROUTER_DEFAULT.affinity).describe('Prefix: keep a conversation on the worker that holds its prompt cache (bounded-load consistent hashing of its stable prefix); None: least outstanding requests.'),
    holdTimeout: durationUpTo('2m or 90s', HOLD_TIMEOUT_MAX_S, '1h')
      .default(`${ROUTER_DEFAULT.holdTimeoutSeconds / 60}m`)
      .describe('How long a request waits for a ready worker (scaled to zero, all restarting) before it gets 503 with Retry-After.'),
    maxHeld: z.number().int().min(1, 'must be 1 or more').max(100000).default(ROUTER_DEFAULT.maxHeld).describe('Requests each router replica holds at most while no worker is ready; beyond it they get 503 at once.'),
    resources: z
      .object({ requests: resourceList.optional(), limits: resourceList.optional() })
      .strict()
      .optional()
      .describe(`CPU/memory requests and limits of the router container (default requests: ${DEFAULT_ROUTER_REQUESTS.cpu} CPU, ${DEFAULT_ROUTER_REQUESTS.memory} memory).`),
    image: z.string().max(512).optional().describe('Router image override (default: the operator\'s configured router image).'),
  })
  .strict()
  .describe('Put a router in front of the workers: the Service named after the QwenService then selects the router pods, which keep conversations on the worker holding their cache, balance by load, check API keys, hold requests while no worker is ready (scale from zero) and tell KEDA at once when requests arrive. Absent: no router, the Service selects the workers.');

const ZERO_NEEDS_ROUTER = 'autoscaling.minReplicas may be 0 only with spec.router (the router holds requests while a worker starts)';

const spec = z
  .object({
    model: z
      .object({
        source: z
          .string()
          .max(1024)
          .regex(new RegExp(MODEL_SOURCE_PATTERN), 'must be hf:owner/repo:quant, hf:owner/repo/file.gguf, https://... (not http://), file:///... or pvc://claim/path')
          .refine((s) => !escapesClaim(s), 'must not climb out of the claim: no .. segment in a pvc:// path')
          .meta(cel({ rule: NO_CLAIM_ESCAPE_CEL, message: 'must not climb out of the claim: no .. segment in a pvc:// path' }))
          .default(DEFAULT_MODEL_SOURCE)
          .describe('Where the GGUF comes from: hf:owner/repo:quant, hf:owner/repo/path/file.gguf, an https:// URL, file:///path in the image, or pvc://claim/path.'),
        sha256: z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex digits').optional().describe('Expected SHA-256 of the GGUF; the worker refuses a file that differs.'),
        name: z.string().max(128).regex(new RegExp(MODEL_NAME_PATTERN), 'must be letters, digits, . _ : - starting with a letter or digit').optional().describe('Model id served in /v1/models and used as the metric label (default: derived from the source).'),
        contextSize: z.number().int().min(256).max(1048576).default(8192).describe('Context window in tokens of each parallel sequence (one request).'),
        parallel: z.number().int().min(1).max(64).default(4).describe('Concurrent sequences (requests decoded together) per replica.'),
        promptCache: quantity('Host prompt cache per replica, bytes or a quantity (e.g. 2Gi): saved prompt states of conversations that no sequence holds any more, in a memory-backed emptyDir of this size; added to the memory request and limit. Absent or 0: off.').optional(),
      })
      .strict()
      .prefault({})
      .describe('The GGUF model each worker serves.'),
    replicas: z.number().int().min(0, 'must be 0 or more').max(1000).default(1).describe('Number of worker pods. Ignored when spec.autoscaling is set (the autoscaler owns the count).'),
    autoscaling: autoscaling.optional(),
    rollout: rollout.optional(),
    gpu: z
      .object({
        count: z.number().int().min(0, 'must be 0 or more').max(16).default(1).describe('GPUs per worker (nvidia.com/gpu); 0 runs on CPU (dev clusters).'),
        product: labelValue().optional().describe('Required GPU product (node label nvidia.com/gpu.product, a label value), e.g. NVIDIA-L4.'),
      })
      .strict()
      .prefault({})
      .describe('GPU needs of each worker.'),
    tolerations: z.array(toleration).max(32).optional().describe('Tolerations for the worker pods (GPU nodes are often tainted).'),
    nodeSelector: labels('Node labels the worker pods must match.').optional(),
    runtimeClassName: z.string().max(253).optional().describe('RuntimeClass for the worker pods (e.g. nvidia).'),
    priorityClassName: z.string().max(253).optional().describe('PriorityClass for the worker pods.'),
    resources: z
      .object({ requests: resourceList.optional(), limits: resourceList.optional() })
      .strict()
      .optional()
      .describe('CPU/memory requests and limits of the worker container (GPUs come from gpu.count).'),
    image: z.string().max(512).optional().describe('Worker image override (default: the operator\'s configured worker image).'),
    modelCache: z
      .object({
        persistentVolumeClaim: z.string().max(253).regex(new RegExp(DNS_SUBDOMAIN_PATTERN), 'must be a PersistentVolumeClaim name (a DNS subdomain)').optional().describe('PVC that keeps downloaded models across restarts (default: an emptyDir).'),
        sizeLimit: z.string().max(32).regex(new RegExp(QUANTITY_PATTERN), 'must be a Kubernetes quantity like 10Gi').optional().describe('Size limit of the emptyDir model cache, a quantity, e.g. 10Gi.'),
      })
      .strict()
      .optional()
      .describe('Where workers keep downloaded models.'),
    sla: sla.optional(),
    tenants: tenants.optional(),
    monitoring: z
      .object({
        serviceMonitor: z
          .object({
            enabled: z.boolean().default(true).describe('Create a ServiceMonitor.'),
            labels: labels('Labels on the ServiceMonitor, e.g. release: kube-prometheus-stack so Prometheus selects it.').optional(),
            interval: z.string().max(16).regex(new RegExp(INTERVAL_PATTERN), 'must be a duration like 15s or 1m').default('15s').describe('Scrape interval.'),
          })
          .strict()
          .optional()
          .describe('How Prometheus scrapes the workers.'),
        ruleLabels: labels('Labels on the PrometheusRule so the Prometheus rule selector picks it up.').optional(),
        alertmanagerConfigLabels: labels('Labels on the AlertmanagerConfig so the Alertmanager selector picks it up.').optional(),
        dashboard: z.boolean().default(true).describe('Create the Grafana dashboard ConfigMap (label grafana_dashboard: "1").'),
      })
      .strict()
      .optional()
      .describe('Monitoring objects generated for this service.'),
    alerting: alerting.optional(),
    auth: auth.optional(),
    network: network.optional(),
    router: router.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.autoscaling?.minReplicas === 0 && !s.router) ctx.addIssue({ code: 'custom', path: ['autoscaling', 'minReplicas'], message: ZERO_NEEDS_ROUTER });
  })
  .meta(cel({ rule: '!has(self.autoscaling) || !has(self.autoscaling.minReplicas) || self.autoscaling.minReplicas > 0 || has(self.router)', message: ZERO_NEEDS_ROUTER, fieldPath: '.autoscaling.minReplicas' }))
  .describe('Desired state of a monitored LLM deployment.');

const condition = z
  .object({
    type: z.string().max(316),
    status: z.enum(['True', 'False', 'Unknown']),
    observedGeneration: z.number().int().min(0).optional(),
    lastTransitionTime: z.string(),
    reason: z.string().max(1024),
    message: z.string().max(32768),
  })
  .describe('A metav1.Condition.');

const sloStatus = z.object({
  slo: z.string().describe('SLO name, e.g. latency-p95.'),
  objective: z.string().describe('Target, e.g. "95% <= 3s".'),
  measured: z.string().optional().describe('Measured over the SLA window.'),
  measured1h: z.string().optional().describe('Measured over the last hour.'),
  budgetRemaining: z.string().optional().describe('Error budget left over the window, percent.'),
  burnRate: z.string().optional().describe('Current (1h) burn rate; 1 spends the budget exactly over the window.'),
});

export const status = z
  .object({
    observedGeneration: z.number().int().optional().describe('Generation this status was computed for.'),
    replicas: z.number().int().optional().describe('Worker pods that exist.'),
    readyReplicas: z.number().int().optional().describe('Worker pods that are ready (model loaded).'),
    selector: z.string().optional().describe('Label selector of the worker pods (scale subresource).'),
    endpoint: z.string().optional().describe('OpenAI-compatible base URL inside the cluster (when endpointAuth is set, every /v1 call needs an API key).'),
    endpointAuth: z.string().optional().describe('How to authenticate to the endpoint: the Secret key holding the API keys (absent when the API is open).'),
    conditions: z.array(condition).optional().describe('Ready, Progressing, Degraded, ModelReady, MonitoringReady, SLAFeasible, SLACompliant, AutoscalingReady (with spec.autoscaling), RolloutGated (with spec.rollout).').meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    autoscaling: z
      .object({
        minReplicas: z.number().int().optional().describe('spec.autoscaling.minReplicas in effect.'),
        maxReplicas: z.number().int().optional().describe('spec.autoscaling.maxReplicas in effect.'),
        desiredReplicas: z.number().int().optional().describe('Worker pods the autoscaler currently asks for (the Deployment\'s spec.replicas).'),
      })
      .optional()
      .describe('Autoscaler state (only with spec.autoscaling).'),
    router: z
      .object({
        replicas: z.number().int().optional().describe('Router pods asked for (spec.router.replicas).'),
        readyReplicas: z.number().int().optional().describe('Router pods that are ready.'),
        ready: z.string().optional().describe('Ready/asked-for router pods, e.g. 2/2 (kubectl get -o wide).'),
      })
      .optional()
      .describe('Router state (only with spec.router).'),
    rollout: z
      .object({
        phase: z.string().optional().describe('The Argo Rollout\'s phase: Healthy, Progressing, Paused, Degraded.'),
        step: z.string().optional().describe('Where the canary stands, e.g. "2/5 setWeight 50".'),
        message: z.string().optional().describe('Argo\'s last message (the abort reason after a rollback).'),
        stableHash: z.string().optional().describe('Pod-template hash of the version the workers return to on a rollback (Argo\'s stableRS).'),
      })
      .optional()
      .describe('Canary rollout state (only with spec.rollout).'),
    model: z
      .object({
        source: z.string().describe('The model source these facts were read for (URLs without credentials or query string).'),
        architecture: z.string().describe('general.architecture, e.g. qwen3.'),
        parameters: z.number().int().describe('Weights in the file.'),
        quantization: z.string().describe('File type, e.g. Q4_K_M.'),
        fileSize: z.number().int().describe('Bytes of the GGUF file.'),
        layers: z.number().int().describe('Transformer blocks.'),
        kvHeads: z.number().int().describe('KV heads (the most of any layer).'),
        headDim: z.number().int().describe('Key head size.'),
        trainedContext: z.number().int().optional().describe('Context length the model was trained with.'),
        heads: z.number().int().describe('Query heads.'),
        valueHeadDim: z.number().int().describe('Value head size.'),
        embeddingLength: z.number().int().describe('Hidden size.'),
        feedForwardLength: z.number().int().describe('FFN size.'),
        vocabSize: z.number().int().describe('Tokens in the vocabulary.'),
        weightsBytes: z.number().int().describe('Bytes of tensor data.'),
        decodeBytes: z.number().int().describe('Weight bytes one decode step reads.'),
        slidingWindow: z.number().int().optional().describe('Sliding-window attention width, when the model has one.'),
      })
      .optional()
      .describe('What the model file\'s GGUF header says, read by the operator (hf: and https: sources); the SLAFeasible condition is computed from it.'),
    sla: z
      .object({
        p95: z.string().optional().describe('Measured p95 latency over the last hour (display only).'),
        summary: z.string().optional().describe('One-line SLA state.'),
        objectives: z.array(sloStatus).optional(),
      })
      .optional()
      .describe('Measured SLA values, read from Prometheus.'),
  })
  .describe('Observed state.');

const metadata = z
  .object({
    name: z.string().min(1, 'is required').max(LABEL_VALUE_MAX, 'must be at most 63 characters (it names a Service)').regex(new RegExp(NAME_PATTERN), 'must be a lowercase DNS label'),
    namespace: z.string().max(63).optional(),
  })
  .passthrough();

export const qwenServiceSchema = z
  .object({
    apiVersion: z.literal(API_VERSION, { error: `must be ${API_VERSION}` }),
    kind: z.literal(KIND, { error: `must be ${KIND}` }),
    metadata,
    spec: spec.prefault({}),
    status: status.optional(),
  })
  .strict()
  .superRefine((q, ctx) => {
    if (q.spec.router && q.metadata.name.length > ROUTER_NAME_MAX) ctx.addIssue({ code: 'custom', path: ['metadata', 'name'], message: ROUTER_NAME_RULE });
  });

export const specSchema = spec;
export const statusSchema = status;
export type QwenService = z.output<typeof qwenServiceSchema>;
export type QwenServiceInput = z.input<typeof qwenServiceSchema>;
export type QwenServiceSpec = z.output<typeof spec>;
export type Sla = z.output<typeof sla>;
export type Alerting = z.output<typeof alerting>;
export type Receiver = z.output<typeof receiver>;
export type SecretKeyRef = z.output<typeof secretKeyRef>;
export type NetworkPeer = z.output<typeof networkPeer>;
export type Autoscaling = z.output<typeof autoscaling>;
export type Rollout = z.output<typeof rollout>;
export type QwenServiceStatus = z.output<typeof status>;
export type Condition = z.output<typeof condition>;
export { PERCENTILES };
