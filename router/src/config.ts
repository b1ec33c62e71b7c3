// Command-line flags of `qwen-router` (names: ROUTER_FLAG, the operator passes them; defaults:
// ROUTER_DEFAULT). Parsed with node:util, checked with zod; every mistake names its flag.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ROUTER_AFFINITY, ROUTER_DEFAULT, ROUTER_FLAG as F, TENANT_PRIORITY, type TenantLimits } from './contract.ts';
import { parseDurationSeconds } from './duration.ts';

/** ε of bounded-load hashing: no worker takes more than (1+ε) × the average in-flight load. */
export const DEFAULT_AFFINITY_EPSILON = 0.25;
/** The worker's own default body limit (worker --max-body-bytes): a larger body would be refused there anyway. */
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
export const DEFAULT_DRAIN_TIMEOUT_S = 30;

/** Router-only flags (the operator does not pass them). */
const LOCAL = { affinityEpsilon: 'affinity-epsilon', maxBodyBytes: 'max-body-bytes', logLevel: 'log-level' } as const;

export type Affinity = (typeof ROUTER_AFFINITY)[number];

export type RouterConfig = {
  host: string;
  port: number;
  adminPort: number;
  /** KEDA's external scaler listens only when set. */
  scalerPort: number | undefined;
  namespace: string | undefined;
  workersService: string | undefined;
  workersPort: string | undefined;
  peersService: string | undefined;
  /** Static upstream base URLs (instead of --workers-service). */
  upstreams: string[] | undefined;
  affinity: Affinity;
  affinityEpsilon: number;
  holdTimeoutS: number;
  maxHeld: number;
  apiKeyFile: string | undefined;
  modelName: string;
  sloBuckets: number[];
  drainTimeoutS: number;
  maxBodyBytes: number;
  logLevel: string;
  /** Declared tenants and their limits (--tenants); empty: every request is the tenant default, unlimited. */
  tenants: Map<string, Required<Pick<TenantLimits, 'priority'>> & TenantLimits>;
  /** Router replicas sharing each tenant's limits (--replicas). */
  replicas: number;
  /** The TTFT objective (seconds) priorities defend; absent: no refusal by priority. */
  ttftObjectiveS: number | undefined;
  /** Sequences per worker (--worker-parallel): the slots of the tenants' fair queue. */
  workerParallel: number;
};

export const USAGE = `Usage: qwen-router [flags]
Where requests go (one of):
  --${F.upstreams} URL,URL,...        fixed worker base URLs, every one taken as ready (tests, benchmarks)
  --${F.workersService} NAME          follow this Service's EndpointSlices (ready endpoints only), with
  --${F.workersPort} NAME|N           the workers' HTTP port name or number in them, and
  --${F.namespace} NS                 their namespace
Listening:
  --${F.host} ADDR                    listen address (default ${ROUTER_DEFAULT.host})
  --${F.port} N                       OpenAI API (default ${ROUTER_DEFAULT.port})
  --${F.adminPort} N                 /metrics, /healthz, /readyz, /load (default ${ROUTER_DEFAULT.adminPort})
  --${F.scalerPort} N                KEDA external scaler (gRPC); off unless given
  --${F.peersService} NAME           the router's own headless Service: peers whose load the scaler adds
Routing:
  --${F.affinity} Prefix|None         Prefix: a conversation stays on one worker (bounded-load consistent
                                hashing of its stable prefix); None: least outstanding requests (default ${ROUTER_DEFAULT.affinity})
  --${LOCAL.affinityEpsilon} E         no worker above (1+E) x the average in-flight load (default ${DEFAULT_AFFINITY_EPSILON})
  --${F.holdTimeout} D                how long a request waits for a ready worker, then 503 (default ${ROUTER_DEFAULT.holdTimeoutSeconds}s);
                                seconds or a Go duration (2m, 1m30s, 500ms)
  --${F.maxHeld} N                    requests that may wait at once; beyond it 429 (default ${ROUTER_DEFAULT.maxHeld})
  --${LOCAL.maxBodyBytes} N          request body limit; 413 past it (default ${DEFAULT_MAX_BODY_BYTES})
Other:
  --${F.apiKeyFile} PATH             API keys, one per line (# comments), the worker's format; /v1/* then
                                needs Authorization: Bearer <key>. A directory (a Secret mounted whole): one
                                file per tenant, named after it (named keys, --${F.tenants})
  --${F.modelName} NAME               the metrics' model label (default: unknown)
  --${F.sloBuckets} S,S,...           seconds added to the buckets of the latency histograms
  --${F.drainTimeout} D               SIGTERM grace period for in-flight and held requests (default ${DEFAULT_DRAIN_TIMEOUT_S}s)
  --${LOCAL.logLevel} LEVEL              pino level (default info)
Tenants (docs/tenants.md):
  --${F.tenants} JSON                 {"<tenant>": {"priority": "Critical|Standard|Batch", "requestsPerMinute": n,
                                "tokensPerMinute": n, "maxConcurrent": n}, ...}; a key's tenant is the file
                                it is in (--${F.apiKeyFile} a directory), undeclared ones are "default"
  --${F.replicas} N                   router replicas: each enforces 1/N of every limit (default 1)
  --${F.ttftObjective} S              seconds; when a request's expected wait exceeds it, Batch then Standard
                                tenants are refused (429, reason priority); never Critical
  --${F.workerParallel} N            the workers' --parallel: with --${F.tenants}, the router sends each ready
                                worker at most N requests at once and queues the rest in a fair order (default 1)
  --help`;

export class ConfigError extends Error {}

const port = z.string().regex(/^\d+$/, 'must be a port number').transform(Number).pipe(z.number().max(65535, 'must be a port number (0-65535)'));
const duration = z.string().transform((s, ctx) => {
  const v = parseDurationSeconds(s);
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: `'${s}' is not a duration: give seconds (120) or a Go duration (2m, 1m30s, 500ms)` });
    return z.NEVER;
  }
  return v;
});
const count = (min: number) => z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().min(min, `must be at least ${min}`));
const name = z.string().trim().min(1, 'must not be empty');

const upstreams = z.string().transform((s, ctx) => {
  const urls = s.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) ctx.addIssue({ code: 'custom', message: 'needs at least one URL' });
  for (const u of urls) {
    let url: URL | undefined;
    try { url = new URL(u); } catch { /* reported below */ }
    if (!url || url.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: `'${u}' is not an http:// URL` });
  }
  return urls;
});

const sloBuckets = z.string().transform((s, ctx) => {
  const out: number[] = [];
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const n = Number(part);
    if (!Number.isFinite(n) || n <= 0) ctx.addIssue({ code: 'custom', message: `'${part}' is not a positive number of seconds` });
    out.push(n);
  }
  return [...new Set(out)].sort((a, b) => a - b);
});

const positiveInt = z.number().int().min(1);
const tenantLimits = z.object({
  priority: z.enum(TENANT_PRIORITY).default('Standard'),
  requestsPerMinute: positiveInt.optional(),
  tokensPerMinute: positiveInt.optional(),
  maxConcurrent: positiveInt.optional(),
}).strict();
const tenantsFlag = z.string().transform((s, ctx) => {
  let json: unknown;
  try { json = JSON.parse(s); } catch (e) {
    ctx.addIssue({ code: 'custom', message: `is not JSON: ${(e as Error).message}` });
    return z.NEVER;
  }
  const r = z.record(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a tenant name is a DNS label'), tenantLimits).safeParse(json);
  if (!r.success) {
    for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: `${i.path.join('.')}: ${i.message}` });
    return z.NEVER;
  }
  return new Map(Object.entries(r.data));
});

/** Each flag's raw string → its value; absent flags take their defaults. */
const schema = z.object({
  [F.host]: name.default(ROUTER_DEFAULT.host),
  [F.port]: port.default(ROUTER_DEFAULT.port),
  [F.adminPort]: port.default(ROUTER_DEFAULT.adminPort),
  [F.scalerPort]: port.optional(),
  [F.namespace]: name.optional(),
  [F.workersService]: name.optional(),
  [F.workersPort]: name.optional(),
  [F.peersService]: name.optional(),
  [F.upstreams]: upstreams.optional(),
  [F.affinity]: z.enum(ROUTER_AFFINITY, { error: `must be one of ${ROUTER_AFFINITY.join(', ')}` }).default(ROUTER_DEFAULT.affinity),
  [LOCAL.affinityEpsilon]: z.string().transform(Number).pipe(z.number({ error: 'must be a number' }).positive('must be a number > 0').finite()).default(DEFAULT_AFFINITY_EPSILON),
  [F.holdTimeout]: duration.default(ROUTER_DEFAULT.holdTimeoutSeconds),
  [F.maxHeld]: count(0).default(ROUTER_DEFAULT.maxHeld),
  [F.apiKeyFile]: name.optional(),
  [F.modelName]: name.default('unknown'),
  [F.sloBuckets]: sloBuckets.default([]),
  [F.drainTimeout]: duration.default(DEFAULT_DRAIN_TIMEOUT_S),
  [LOCAL.maxBodyBytes]: count(1).default(DEFAULT_MAX_BODY_BYTES),
  [LOCAL.logLevel]: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  [F.tenants]: tenantsFlag.optional(),
  [F.replicas]: count(1).default(1),
  [F.workerParallel]: count(1).default(1),
  [F.ttftObjective]: z.string().transform(Number).pipe(z.number({ error: 'must be a number of seconds' }).positive('must be > 0').finite()).optional(),
}).superRefine((v, ctx) => {
  const service = v[F.workersService] !== undefined;
  if (service === (v[F.upstreams] !== undefined)) {
    ctx.addIssue({ code: 'custom', path: [F.upstreams], message: `give exactly one of --${F.upstreams} and --${F.workersService}` });
  }
  if (service && v[F.workersPort] === undefined) ctx.addIssue({ code: 'custom', path: [F.workersPort], message: `is needed with --${F.workersService}` });
  if (!service && v[F.workersPort] !== undefined) ctx.addIssue({ code: 'custom', path: [F.workersPort], message: `goes with --${F.workersService}` });
  if (v[F.peersService] !== undefined && v[F.scalerPort] === undefined) {
    ctx.addIssue({ code: 'custom', path: [F.peersService], message: `goes with --${F.scalerPort} (only the scaler reads the peers' load)` });
  }
});

const STRING_FLAGS = [...Object.values(F), ...Object.values(LOCAL)];

/** The config of `argv`; `--help` throws the usage text as a ConfigError (see main.ts). */
export function parseConfig(argv: string[]): RouterConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: { ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: 'string' as const }])), help: { type: 'boolean' } },
    }));
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (values.help) throw new ConfigError(USAGE);
  const { help: _help, ...raw } = values;
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `--${String(i.path[0] ?? '')}: ${i.message}`).join('\n'));
  }
  const v = r.data;
  return {
    host: v[F.host], port: v[F.port], adminPort: v[F.adminPort], scalerPort: v[F.scalerPort],
    namespace: v[F.namespace], workersService: v[F.workersService], workersPort: v[F.workersPort], peersService: v[F.peersService],
    upstreams: v[F.upstreams], affinity: v[F.affinity], affinityEpsilon: v[LOCAL.affinityEpsilon],
    holdTimeoutS: v[F.holdTimeout], maxHeld: v[F.maxHeld], apiKeyFile: v[F.apiKeyFile], modelName: v[F.modelName],
    sloBuckets: v[F.sloBuckets], drainTimeoutS: v[F.drainTimeout], maxBodyBytes: v[LOCAL.maxBodyBytes], logLevel: v[LOCAL.logLevel],
    tenants: v[F.tenants] ?? new Map(), replicas: v[F.replicas], ttftObjectiveS: v[F.ttftObjective], workerParallel: v[F.workerParallel],
  };
}
