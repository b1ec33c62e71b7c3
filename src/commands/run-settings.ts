// `qwen-operator run`'s flags and environment variables, resolved and checked into the settings
// the process is wired from. Every flag is read here and nowhere else; nothing here touches the
// cluster, so a bad flag is reported before any connection is made.
import { hostname } from 'node:os';
import { LEADER_LEASE_NAME } from '../conventions.ts';
import { checkLeaderTimings, type LeaderOptions } from '../kube/leader.ts';
import { DEFAULT_NAMESPACE } from '../kube/object.ts';
import { defaultRenderConfig, type RenderConfig } from '../render/common.ts';
import { isSmarthostEntry, type TenantLimits } from '../controller/tenant-limits.ts';
import { CliError } from './command.ts';
import { DEFAULT_CPU_BANDWIDTH_GBPS } from '../sizing/feasibility.ts';

/** Flags that take a value; `leader-elect` is the only switch. */
export const VALUE_FLAGS = [
  'kubeconfig', 'namespaces', 'worker-image', 'router-image', 'concurrency', 'log-level', 'health-addr',
  'lease-namespace', 'lease-name', 'identity', 'lease-duration', 'renew-deadline', 'retry-period',
  'monitoring-check-interval', 'resync-interval', 'runbook-url', 'prometheus-namespaces', 'keda-namespaces', 'prometheus-url',
  'sla-status-interval', 'allowed-image-prefixes', 'allowed-smarthosts', 'cpu-memory-bandwidth',
] as const;

export type RunFlags = { [F in (typeof VALUE_FLAGS)[number]]?: string } & { 'leader-elect'?: boolean };

/** node:util parseArgs options for RunFlags. */
export const RUN_OPTIONS = {
  ...(Object.fromEntries(VALUE_FLAGS.map((f) => [f, { type: 'string' }])) as { [F in (typeof VALUE_FLAGS)[number]]: { type: 'string' } }),
  'leader-elect': { type: 'boolean' },
} as const;

export const DEFAULT_HEALTH_ADDR = '0.0.0.0:8081';

export type RunSettings = {
  /** A kubeconfig path (several joined by `:`); in-cluster credentials when unset. */
  kubeconfig?: string;
  logLevel: string;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  concurrency: number;
  monitoringCheckIntervalMs: number;
  resyncIntervalMs: number;
  render: RenderConfig;
  /** What a QwenService may ask for; empty lists = no limit. */
  limits: TenantLimits;
  health: { host: string; port: number; addr: string };
  /** The SLA status loop; absent without a Prometheus to read. */
  slaStatus?: { prometheusURL: string; intervalMs: number };
  /** Sizing: the CPU path's memory bandwidth (GB/s). */
  sizing: { cpuBandwidthGBps: number };
  /** Leader election; absent unless --leader-elect. */
  leaderElection?: LeaderOptions & Required<Pick<LeaderOptions, 'leaseDurationS' | 'renewDeadlineMs' | 'retryPeriodMs'>>;
};

const positive = (flag: string, text: string | undefined, dflt: number): number => {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`--${flag} must be a positive number (got ${text})`);
  return n;
};

const list = (text: string | undefined): string[] => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Flags first, then their environment variables, then defaults. Throws CliError on a bad value. */
export function readRunSettings(flags: RunFlags, env: NodeJS.ProcessEnv = process.env): RunSettings {
  const prometheusURL = flags['prometheus-url'] ?? env.PROMETHEUS_URL;
  if (prometheusURL && !/^https?:\/\//.test(prometheusURL)) throw new CliError(`--prometheus-url must be an http(s) URL (got ${prometheusURL})`);
  const concurrency = positive('concurrency', flags.concurrency, 4);
  const monitoringCheckIntervalMs = positive('monitoring-check-interval', flags['monitoring-check-interval'], 30) * 1000;
  const resyncIntervalMs = positive('resync-interval', flags['resync-interval'], 600) * 1000;
  const slaStatus = prometheusURL ? { prometheusURL, intervalMs: positive('sla-status-interval', flags['sla-status-interval'], 30) * 1000 } : undefined;
  const health = healthAddress(flags['health-addr']);
  // Checked even without --leader-elect: a bad value is a mistake either way.
  const timings = {
    leaseDurationS: positive('lease-duration', flags['lease-duration'], 15),
    renewDeadlineMs: positive('renew-deadline', flags['renew-deadline'], 10) * 1000,
    retryPeriodMs: positive('retry-period', flags['retry-period'], 2) * 1000,
  };
  const limits = tenantLimits(flags, env);
  const badTimings = checkLeaderTimings(timings);
  if (flags['leader-elect'] && badTimings) throw new CliError(badTimings);
  return {
    ...(flags.kubeconfig ?? env.KUBECONFIG ? { kubeconfig: flags.kubeconfig ?? env.KUBECONFIG } : {}),
    logLevel: flags['log-level'] ?? env.LOG_LEVEL ?? 'info',
    namespaces: list(flags.namespaces ?? env.WATCH_NAMESPACES),
    concurrency,
    monitoringCheckIntervalMs,
    resyncIntervalMs,
    render: {
      ...defaultRenderConfig,
      workerImage: flags['worker-image'] ?? env.WORKER_IMAGE ?? defaultRenderConfig.workerImage,
      routerImage: flags['router-image'] ?? env.ROUTER_IMAGE ?? defaultRenderConfig.routerImage,
      // The autoscaling triggers query the same Prometheus the SLA loop reads.
      ...(prometheusURL ? { prometheusURL } : {}),
      ...(flags['runbook-url'] ? { runbookBaseURL: flags['runbook-url'] } : {}),
      prometheusNamespaces: list(flags['prometheus-namespaces'] ?? env.PROMETHEUS_NAMESPACES),
      kedaNamespaces: list(flags['keda-namespaces'] ?? env.KEDA_NAMESPACES),
    },
    limits,
    health,
    sizing: { cpuBandwidthGBps: positive('cpu-memory-bandwidth', flags['cpu-memory-bandwidth'] ?? env.CPU_MEMORY_BANDWIDTH_GBPS, DEFAULT_CPU_BANDWIDTH_GBPS) },
    ...(slaStatus ? { slaStatus } : {}),
    ...(flags['leader-elect']
      ? {
          leaderElection: {
            namespace: flags['lease-namespace'] ?? env.POD_NAMESPACE ?? DEFAULT_NAMESPACE,
            name: flags['lease-name'] ?? LEADER_LEASE_NAME,
            identity: flags.identity ?? env.POD_NAME ?? `${hostname()}-${process.pid}`,
            ...timings,
          },
        }
      : {}),
  };
}

/** --allowed-image-prefixes and --allowed-smarthosts, each entry checked: a typo must not be a limit that matches nothing. */
function tenantLimits(flags: RunFlags, env: NodeJS.ProcessEnv): TenantLimits {
  const allowedImagePrefixes = list(flags['allowed-image-prefixes'] ?? env.ALLOWED_IMAGE_PREFIXES);
  const badPrefix = allowedImagePrefixes.find((p) => !/^[!-~]+$/.test(p));
  if (badPrefix !== undefined) throw new CliError(`--allowed-image-prefixes: ${JSON.stringify(badPrefix)} is not an image prefix (no spaces), e.g. ghcr.io/qwenops/`);
  const allowedSmarthosts = list(flags['allowed-smarthosts'] ?? env.ALLOWED_SMARTHOSTS);
  const badHost = allowedSmarthosts.find((h) => !isSmarthostEntry(h));
  if (badHost !== undefined) throw new CliError(`--allowed-smarthosts: ${JSON.stringify(badHost)} is not host or host:port, e.g. smtp.example.com:587`);
  return { allowedImagePrefixes, allowedSmarthosts };
}

function healthAddress(flag: string | undefined): RunSettings['health'] {
  const [host, portText] = (flag ?? DEFAULT_HEALTH_ADDR).split(/:(?=\d+$)/);
  const port = Number(portText ?? 8081);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--health-addr must be HOST:PORT (got ${flag})`);
  return { host: host ?? '0.0.0.0', port, addr: flag ?? DEFAULT_HEALTH_ADDR };
}
