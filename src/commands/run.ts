// `qwen-operator run`: the controller process (in-cluster, or with a kubeconfig).
import { hostname } from 'node:os';
import { KubeClient } from '../kube/client.ts';
import { loadKubeAuth } from '../kube/kubeconfig.ts';
import { LeaderElector, checkLeaderTimings } from '../kube/leader.ts';
import { Manager } from '../controller/manager.ts';
import { operatorMetrics } from '../controller/metrics.ts';
import { startHealthServer } from '../controller/health.ts';
import { defaultRenderConfig } from '../render/common.ts';
import { createLogger } from '../log.ts';
import { CliError, parseOptions, type Command } from './command.ts';

const HELP = `Usage: qwen-operator run [options]

Runs the operator against the cluster of KUBECONFIG (or --kubeconfig), or in-cluster.

Options (each also from the environment variable in brackets):
  --kubeconfig PATH             kubeconfig file [KUBECONFIG]; in-cluster config when unset
  --namespaces a,b              namespaces to watch [WATCH_NAMESPACES]; all when empty
  --worker-image IMAGE          default worker image [WORKER_IMAGE] (default ${defaultRenderConfig.workerImage})
  --concurrency N               reconciles in parallel (default 4)
  --log-level LEVEL             trace|debug|info|warn|error [LOG_LEVEL] (default info)
  --health-addr HOST:PORT       /healthz, /readyz, /metrics (default 0.0.0.0:8081)
  --leader-elect                campaign for a Lease before reconciling (default off)
  --lease-namespace NS          namespace of the Lease [POD_NAMESPACE] (default default)
  --lease-name NAME             (default qwen-operator-leader)
  --identity ID                 this candidate's identity [POD_NAME] (default hostname-pid)
  --lease-duration S            how long a standby waits, from the last change it saw, before
                                taking the lease over (default 15)
  --renew-deadline S            a leader that has not renewed for this long stops writing and
                                exits; shorter than the lease duration (default 10)
  --retry-period S              between lease reads and renewals (default 2)
  --monitoring-check-interval S seconds between checks for prometheus-operator and KEDA CRDs (default 30)
  --resync-interval S           seconds between full resyncs (default 600)
  --runbook-url URL             runbook linked from alerts
  --prometheus-namespaces a,b   namespaces where Prometheus runs: the only ones the workers'
                                NetworkPolicies open the metrics port to [PROMETHEUS_NAMESPACES]; all when empty
  --prometheus-url URL          Prometheus whose recording rules feed status.sla and SLACompliant,
                                and that KEDA's autoscaling triggers query [PROMETHEUS_URL];
                                no SLA status and no ScaledObject when unset
  --sla-status-interval S       seconds between SLA status reads (default 30)`;

export const runCommand: Command = {
  help: HELP,
  async run(args) {
    const { values: v } = parseOptions(args, {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      'worker-image': { type: 'string' },
      concurrency: { type: 'string' },
      'log-level': { type: 'string' },
      'health-addr': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      'monitoring-check-interval': { type: 'string' },
      'resync-interval': { type: 'string' },
      'runbook-url': { type: 'string' },
      'prometheus-namespaces': { type: 'string' },
      'prometheus-url': { type: 'string' },
      'sla-status-interval': { type: 'string' },
    });
    const num = (name: string, text: string | undefined, dflt: number) => {
      if (text === undefined) return dflt;
      const n = Number(text);
      if (!Number.isFinite(n) || n <= 0) throw new CliError(`--${name} must be a positive number (got ${text})`);
      return n;
    };
    const log = createLogger(v['log-level'] ?? process.env.LOG_LEVEL ?? 'info');
    const client = new KubeClient(await loadKubeAuth(v.kubeconfig ?? process.env.KUBECONFIG));
    const metrics = operatorMetrics();
    client.onWrite = (verb, kind) => {
      metrics.writes.inc({ verb, kind });
      log.debug({ verb, kind }, 'kube write');
    };
    const [host, portText] = (v['health-addr'] ?? '0.0.0.0:8081').split(/:(?=\d+$)/);
    const prometheusURL = v['prometheus-url'] ?? process.env.PROMETHEUS_URL;
    if (prometheusURL && !/^https?:\/\//.test(prometheusURL)) throw new CliError(`--prometheus-url must be an http(s) URL (got ${prometheusURL})`);
    const namespaces = (v.namespaces ?? process.env.WATCH_NAMESPACES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const manager = new Manager({
      client,
      log,
      metrics,
      namespaces,
      concurrency: num('concurrency', v.concurrency, 4),
      monitoringCheckIntervalMs: num('monitoring-check-interval', v['monitoring-check-interval'], 30) * 1000,
      resyncIntervalMs: num('resync-interval', v['resync-interval'], 600) * 1000,
      ...(prometheusURL ? { slaStatus: { prometheusURL, intervalMs: num('sla-status-interval', v['sla-status-interval'], 30) * 1000 } } : {}),
      config: {
        ...defaultRenderConfig,
        workerImage: v['worker-image'] ?? process.env.WORKER_IMAGE ?? defaultRenderConfig.workerImage,
        // The autoscaling triggers query the same Prometheus the SLA loop reads.
        ...(prometheusURL ? { prometheusURL } : {}),
        ...(v['runbook-url'] ? { runbookBaseURL: v['runbook-url'] } : {}),
        prometheusNamespaces: (v['prometheus-namespaces'] ?? process.env.PROMETHEUS_NAMESPACES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      },
    });
    let started = false;
    const port = Number(portText ?? 8081);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--health-addr must be HOST:PORT (got ${v['health-addr']})`);
    const server = await startHealthServer(port, host ?? '0.0.0.0', metrics.registry, () => started || !!v['leader-elect']);
    log.info({ namespaces: namespaces.length ? namespaces : 'all', health: v['health-addr'] ?? '0.0.0.0:8081' }, 'qwen-operator starting');

    let elector: LeaderElector | undefined;
    let shuttingDown = false;
    const leaderTimings = {
      leaseDurationS: num('lease-duration', v['lease-duration'], 15),
      renewDeadlineMs: num('renew-deadline', v['renew-deadline'], 10) * 1000,
      retryPeriodMs: num('retry-period', v['retry-period'], 2) * 1000,
    };
    const badTimings = checkLeaderTimings(leaderTimings);
    if (v['leader-elect'] && badTimings) throw new CliError(badTimings);
    const done = new Promise<number>((resolve) => {
      const shutdown = async (signal: string) => {
        shuttingDown = true;
        log.info({ signal }, 'shutting down');
        await manager.stop();
        await elector?.stop();
        server.close();
        resolve(0);
      };
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      process.once('SIGINT', () => void shutdown('SIGINT'));
      const begin = () => manager.start().then(() => { started = true; }, (err: unknown) => { log.error({ err: String(err) }, 'could not start'); resolve(1); });
      if (v['leader-elect']) {
        const le = new LeaderElector(client, {
          namespace: v['lease-namespace'] ?? process.env.POD_NAMESPACE ?? 'default',
          name: v['lease-name'] ?? 'qwen-operator-leader',
          identity: v.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
          ...leaderTimings,
        }, log);
        elector = le;
        // Every write is checked right before it is sent: none leaves once the lease may be lost.
        client.writeGate = le.fence;
        le.onStartedLeading = () => { metrics.leader.set({ name: 'qwen-operator' }, 1); void begin(); };
        // Losing the lease means another replica may already be writing: exit at once (the
        // fence already refuses every write), and the Deployment restarts us as a standby —
        // client-go operators exit the same way. Never campaign again from this process.
        le.onStoppedLeading = (reason) => {
          metrics.leader.set({ name: 'qwen-operator' }, 0);
          if (shuttingDown) return;
          log.error({ reason }, 'lost leadership; exiting');
          process.exit(1);
        };
        le.start();
      } else {
        void begin();
      }
    });
    const code = await done;
    if (code !== 0) { await manager.stop().catch(() => {}); server.close(); }
    return code;
  },
};
