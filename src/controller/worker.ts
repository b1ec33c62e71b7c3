// One reconcile worker: takes keys from the queue until it shuts down, runs reconcile(key), and
// decides what the outcome means for the key: forget it, retry it with the slow backoff of a
// blocked reconcile, or with the queue's normal backoff. Counts everything in controller-runtime's
// metric names.
import type { Logger } from 'pino';
import { NotLeaderError } from '../kube/errors.ts';
import { CONTROLLER, type OperatorMetrics } from './metrics.ts';
import { BlockedError } from './reconciler.ts';
import type { QueueHooks, WorkQueue } from './workqueue.ts';

export type BackoffOptions = { baseDelayMs: number; maxDelayMs: number };

export type WorkerDeps = {
  queue: WorkQueue;
  reconcile: (key: string) => Promise<unknown>;
  metrics: OperatorMetrics;
  log: Logger;
  /** Backoff of a reconcile blocked by an ownership conflict or a refused apply. */
  blockedBackoff: BackoffOptions;
};

/** The work queue's metrics (workqueue_*), labelled with the controller's name. */
export function queueMetricHooks(metrics: OperatorMetrics): QueueHooks {
  const name = { name: CONTROLLER };
  return {
    onAdd: () => metrics.adds.inc(name),
    onDepth: (depth) => metrics.depth.set(name, depth),
    onQueueLatency: (s) => metrics.queueDuration.observe(name, s),
    onWorkDuration: (s) => metrics.workDuration.observe(name, s),
    onRetry: () => metrics.retries.inc(name),
  };
}

/** Runs until the queue shuts down. */
export async function runWorker(deps: WorkerDeps): Promise<void> {
  const { queue, metrics } = deps;
  const labels = { controller: CONTROLLER };
  for (;;) {
    const key = await queue.get();
    if (key === undefined) return;
    metrics.activeWorkers.inc(labels);
    const end = metrics.reconcileTime.startTimer(labels);
    try {
      await deps.reconcile(key);
      queue.forget(key);
      metrics.reconcileTotal.inc({ ...labels, result: 'success' });
    } catch (err) {
      metrics.reconcileErrors.inc(labels);
      metrics.reconcileTotal.inc({ ...labels, result: 'error' });
      requeueAfterFailure(deps, key, err);
    } finally {
      end();
      metrics.activeWorkers.dec(labels);
      queue.done(key);
    }
  }
}

function requeueAfterFailure({ queue, log, blockedBackoff }: WorkerDeps, key: string, err: unknown): void {
  if (err instanceof NotLeaderError) {
    // The lease is lost: the process is on its way out, a standby takes the key over.
    log.warn({ qwenservice: key, err: err.message }, 'reconcile stopped: not the leader');
  } else if (err instanceof BlockedError) {
    log.info({ qwenservice: key, reasons: [...new Set(err.problems.map((p) => p.reason))], retries: queue.retries(key) }, 'reconcile blocked (see status); retried with the slow backoff');
    queue.addRateLimited(key, blockedBackoff);
  } else {
    log.warn({ qwenservice: key, err: String(err), retries: queue.retries(key) }, 'reconcile failed; requeued with backoff');
    queue.addRateLimited(key);
  }
}
