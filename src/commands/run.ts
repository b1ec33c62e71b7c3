// `qwen-operator run`: the controller process (in-cluster, or with a kubeconfig).
import { hostname } from 'node:os';
import { KubeClient } from '../kube/client.ts';
import { loadKubeAuth } from '../kube/kubeconfig.ts';
import { LeaderElector } from '../kube/leader.ts';
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
  --monitoring-check-interval S seconds between checks for prometheus-operator CRDs (default 30)
  --resync-interval S           seconds between full resyncs (default 600)
  --runbook-url URL             runbook linked from alerts
  --prometheus-url URL          Prometheus whose recording rules feed status.sla and SLACompliant
                                [PROMETHEUS_URL]; no SLA status when unset
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
      'monitoring-check-interval': { type: 'string' },
      'resync-interval': { type: 'string' },
      'runbook-url': { type: 'string' },
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
    client.onWrite = (verb, kind) => metrics.writes.inc({ verb, kind });
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
        ...(v['runbook-url'] ? { runbookBaseURL: v['runbook-url'] } : {}),
      },
    });
    let started = false;
    const port = Number(portText ?? 8081);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--health-addr must be HOST:PORT (got ${v['health-addr']})`);
    const server = await startHealthServer(port, host ?? '0.0.0.0', metrics.registry, () => started || !!v['leader-elect']);
    log.info({ namespaces: namespaces.length ? namespaces : 'all', health: v['health-addr'] ?? '0.0.0.0:8081' }, 'qwen-operator starting');

    let elector: LeaderElector | undefined;
    const done = new Promise<number>((resolve) => {
      const shutdown = async (signal: string) => {
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
        elector = new LeaderElector(client, {
          namespace: v['lease-namespace'] ?? process.env.POD_NAMESPACE ?? 'default',
          name: v['lease-name'] ?? 'qwen-operator-leader',
          identity: v.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
        }, log);
        elector.onStartedLeading = () => { metrics.leader.set({ name: 'qwen-operator' }, 1); void begin(); };
        // Losing the lease means another replica may already be writing: stop at once, the
        // Deployment restarts us as a standby (client-go operators exit the same way).
        elector.onStoppedLeading = () => { metrics.leader.set({ name: 'qwen-operator' }, 0); if (started) { log.error('lost leadership; exiting'); resolve(1); } };
        elector.start();
      } else {
        void begin();
      }
    });
    const code = await done;
    if (code !== 0) { await manager.stop().catch(() => {}); server.close(); }
    return code;
  },
};
