// The router <-> operator contract: the metric names the operator's SLIs read when a QwenService has a
// router, the flags the operator passes with the router's defaults, the ports and paths its pods,
// probes, KEDA (the external scaler) and the router's peers use, and the object names the router
// discovers. Defined once, here; the router builds its metrics and flags from it and the operator
// (src/, by relative path) its queries, pod args and objects. Dependency-free on purpose (like
// worker/src/contract.ts): both packages import it.

/**
 * Series measured at the client's side of the router: hold time and retries included. Same shapes
 * and labels as the worker's (worker/src/contract.ts METRIC/LABEL: `model`, `error_type` with its
 * ERROR_TYPES values), so an SLI query changes only its metric name when the router is the source.
 */
export const ROUTER_METRIC = {
  requestDuration: 'qwen_router_request_duration_seconds',
  timeToFirstToken: 'qwen_router_time_to_first_token_seconds',
  /** How long requests waited for a ready worker (0 when one was ready). */
  holdDuration: 'qwen_router_hold_duration_seconds',
  requestsInFlight: 'qwen_router_requests_in_flight',
  requestsHeld: 'qwen_router_requests_held',
  /** Requests by how the worker was chosen: `result` one of AFFINITY_RESULTS. */
  affinity: 'qwen_router_affinity_total',
  /** Requests sent again to another worker before their first byte, by `reason` (RETRY_REASONS). */
  retries: 'qwen_router_retries_total',
  readyEndpoints: 'qwen_router_ready_endpoints',
  /** Per tenant (`tenant`): requests answered by a worker (any status), refusals excluded. */
  tenantRequests: 'qwen_router_tenant_requests_total',
  /** Per tenant: prompt tokens of answered requests (the worker's usage). */
  tenantPromptTokens: 'qwen_router_tenant_prompt_tokens_total',
  /** Per tenant: completion tokens of answered requests (the worker's usage). */
  tenantCompletionTokens: 'qwen_router_tenant_completion_tokens_total',
  /** Per tenant: prompt tokens served from the prompt cache (usage.prompt_tokens_details.cached_tokens). */
  tenantCachedTokens: 'qwen_router_tenant_cached_tokens_total',
  /** Per tenant: requests refused by the router's tenant policy, by `reason` (REFUSAL_REASONS). */
  tenantRefusals: 'qwen_router_tenant_refusals_total',
} as const;

export const ROUTER_LABEL = { result: 'result', reason: 'reason', tenant: 'tenant' } as const;
/**
 * Why a tenant's request was refused (429, not a service fault: never in the SLI series' error
 * counts). `requests`/`tokens`: its requestsPerMinute/tokensPerMinute bucket was empty;
 * `concurrency`: maxConcurrent requests of it were running; `priority`: the TTFT objective was at
 * risk and its priority gives way (Batch first, then Standard).
 */
export const REFUSAL_REASONS = ['requests', 'tokens', 'concurrency', 'priority'] as const;
export const TENANT_PRIORITY = ['Critical', 'Standard', 'Batch'] as const;
/** The tenant of the single-key form, of undeclared tenants, and of an open API. */
export const DEFAULT_TENANT = 'default';
/** One tenant in the JSON of --tenants: `{"<name>": TenantLimits, ...}`; absent limits are unlimited. */
export type TenantLimits = { priority?: (typeof TENANT_PRIORITY)[number]; requestsPerMinute?: number; tokensPerMinute?: number; maxConcurrent?: number };
/** `hit`: the key's own worker; `spill`: its worker was over the load bound, the next one took it; `none`: no key (affinity None or no stable prefix), least outstanding requests. */
export const AFFINITY_RESULTS = ['hit', 'spill', 'none'] as const;
export const RETRY_REASONS = ['connect', 'unavailable', 'overloaded'] as const;

/** Flags of `qwen-router` the operator passes (each as one `--flag=value` word). */
export const ROUTER_FLAG = {
  host: 'host',
  port: 'port',
  /** Admin port: /metrics, /healthz, /readyz, and PEER_LOAD_PATH for the other router replicas. */
  adminPort: 'admin-port',
  /** KEDA's external scaler (gRPC, externalscaler.proto of KEDA v2.21.0). */
  scalerPort: 'scaler-port',
  namespace: 'namespace',
  /** The workers' Service: the router follows its EndpointSlices (ready endpoints only). */
  workersService: 'workers-service',
  /** Port name (or number) of the workers' HTTP port in their EndpointSlices. */
  workersPort: 'workers-port',
  /** The router's own headless Service: its EndpointSlices list the peers whose load KEDA must see. */
  peersService: 'peers-service',
  /** Static upstreams (comma-separated URLs) instead of EndpointSlices: tests and benchmarks. */
  upstreams: 'upstreams',
  affinity: 'affinity',
  holdTimeout: 'hold-timeout',
  maxHeld: 'max-held',
  apiKeyFile: 'api-key-file',
  modelName: 'model-name',
  sloBuckets: 'slo-buckets',
  drainTimeout: 'drain-timeout',
  /** Tenants and their limits, JSON `{"<name>": TenantLimits}` (spec.tenants). */
  tenants: 'tenants',
  /** Router replicas: each enforces 1/replicas of every tenant's per-minute limits and maxConcurrent. */
  replicas: 'replicas',
  /** Seconds: the TTFT objective (the SLA's tightest TTFT threshold); the wait beyond which priorities refuse. */
  ttftObjective: 'ttft-objective',
  /** The workers' --parallel: with tenants, the router sends each ready worker at most this many requests at once and queues the rest in its fair order. */
  workerParallel: 'worker-parallel',
} as const;

export const ROUTER_AFFINITY = ['Prefix', 'None'] as const;

/** The router's defaults the operator relies on (ports it passes and probes; spec.router defaults). */
export const ROUTER_DEFAULT = {
  host: '0.0.0.0',
  port: 8080,
  adminPort: 9090,
  scalerPort: 9100,
  replicas: 2,
  affinity: 'Prefix',
  holdTimeoutSeconds: 120,
  maxHeld: 256,
} as const;

/** GET on the admin port: this replica's own load as JSON `{"inFlight": n, "held": n}` (peers sum them for KEDA). */
export const PEER_LOAD_PATH = '/load';
/** The metric the external scaler reports to KEDA: in-flight + held requests over all router replicas. */
export const SCALER_METRIC_NAME = 'qwen-router-requests';
/** The external-push trigger's metadata key for the in-flight + held requests one worker should take (the HPA's AverageValue). */
export const SCALER_TARGET_KEY = 'targetInFlight';
