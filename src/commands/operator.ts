// The operator process put together from its parts: the client (with write metrics), the
// controller manager, the SLA status loop beside it, the health server, leader election and the
// shutdown signals. The controller and the SLA loop know nothing of each other; this is the one
// place that starts both (controller-runtime's main.go).
import type { Logger } from 'pino';
import { OPERATOR_NAME } from '../conventions.ts';
import { KubeClient } from '../kube/client.ts';
import { loadKubeAuth } from '../kube/kubeconfig.ts';
import { LeaderElector } from '../kube/leader.ts';
import { EventRecorder } from '../controller/events.ts';
import { Manager } from '../controller/manager.ts';
import { operatorMetrics, type OperatorMetrics } from '../controller/metrics.ts';
import { startHealthServer } from '../controller/health.ts';
import { slaStatusPoller } from '../slastatus/poller.ts';
import { createLogger } from '../log.ts';
import type { RunSettings } from './run-settings.ts';

/** Metric label of the leader election (leader_election_master_status{name}). */
const ELECTION = { name: OPERATOR_NAME };

/**
 * Runs the SLA status loop beside the manager's workers, on the manager's QwenService cache, with
 * its own Prometheus reads and field manager: Prometheus never sits on the reconcile path. It also
 * hands the model facts the workers report to the manager's sizing.
 */
export function addSlaStatusLoop(manager: Manager, client: KubeClient, sla: { prometheusURL: string; intervalMs: number; timeoutMs?: number }, log: Logger): void {
  manager.add(slaStatusPoller({
    ...sla, client, qwenServices: manager.qwenServices, events: new EventRecorder(client), log: log.child({ loop: 'sla-status' }),
    modelFacts: (key, source, sha256, facts) => manager.reportModelFacts(key, source, sha256, facts),
  }));
}

/** The client, with every write counted (metrics) and logged at debug. */
async function connect(kubeconfig: string | undefined, metrics: OperatorMetrics, log: Logger): Promise<KubeClient> {
  const client = new KubeClient(await loadKubeAuth(kubeconfig));
  client.onWrite = (verb, kind) => {
    metrics.writes.inc({ verb, kind });
    log.debug({ verb, kind }, 'kube write');
  };
  return client;
}

/**
 * Campaigns for the Lease; `lead` runs once it is won. Every write is checked right before it is
 * sent, so none leaves once the lease may be lost. Losing it means another replica may already
 * be writing: exit at once and let the Deployment restart us as a standby (client-go operators
 * exit the same way); never campaign again from this process.
 */
function campaign(client: KubeClient, options: NonNullable<RunSettings['leaderElection']>, metrics: OperatorMetrics, log: Logger, lead: () => void, shuttingDown: () => boolean): LeaderElector {
  const elector = new LeaderElector(client, options, log);
  client.writeGate = elector.fence;
  elector.onStartedLeading = () => { metrics.leader.set(ELECTION, 1); lead(); };
  elector.onStoppedLeading = (reason) => {
    metrics.leader.set(ELECTION, 0);
    if (shuttingDown()) return;
    log.error({ reason }, 'lost leadership; exiting');
    process.exit(1);
  };
  return elector;
}

/** Runs the operator until SIGTERM/SIGINT (0) or a failed start (1). */
export async function runOperator(settings: RunSettings): Promise<number> {
  const log = createLogger(settings.logLevel);
  const metrics = operatorMetrics();
  const client = await connect(settings.kubeconfig, metrics, log);
  const manager = new Manager({
    client, log, metrics,
    namespaces: settings.namespaces,
    concurrency: settings.concurrency,
    monitoringCheckIntervalMs: settings.monitoringCheckIntervalMs,
    resyncIntervalMs: settings.resyncIntervalMs,
    config: settings.render,
    limits: settings.limits,
    sizing: settings.sizing,
  });
  if (settings.slaStatus) addSlaStatusLoop(manager, client, settings.slaStatus, log);

  let started = false;
  // Under leader election a standby is ready too: otherwise a rollout of the Deployment would wait on replicas that only wait for the lease.
  const server = await startHealthServer(settings.health.port, settings.health.host, metrics.registry, () => started || settings.leaderElection !== undefined);
  log.info({ namespaces: settings.namespaces.length ? settings.namespaces : 'all', health: settings.health.addr }, 'qwen-operator starting');

  let elector: LeaderElector | undefined;
  let shuttingDown = false;
  const code = await new Promise<number>((resolve) => {
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
    const start = () => manager.start().then(() => { started = true; }, (err: unknown) => { log.error({ err: String(err) }, 'could not start'); resolve(1); });
    if (settings.leaderElection) {
      elector = campaign(client, settings.leaderElection, metrics, log, () => void start(), () => shuttingDown);
      elector.start();
    } else {
      void start();
    }
  });
  if (code !== 0) { await manager.stop().catch(() => {}); server.close(); }
  return code;
}
