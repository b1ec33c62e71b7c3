// The operator's own metrics, in controller-runtime's names where one exists, so existing
// dashboards and alerts for Go operators work unchanged.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { KUBE_WRITES_METRIC, MONITORING_CRDS_SERVED_METRIC } from '../conventions.ts';

export const CONTROLLER = 'qwenservice';

export function operatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labels = { controller: CONTROLLER, name: CONTROLLER };
  return {
    registry,
    reconcileTotal: new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total reconciliations per controller and result.', labelNames: ['controller', 'result'], registers: [registry] }),
    reconcileErrors: new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total reconciliation errors per controller.', labelNames: ['controller'], registers: [registry] }),
    reconcileTime: new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller.', labelNames: ['controller'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    activeWorkers: new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller.', labelNames: ['controller'], registers: [registry] }),
    depth: new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue.', labelNames: ['name'], registers: [registry] }),
    adds: new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue.', labelNames: ['name'], registers: [registry] }),
    retries: new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue.', labelNames: ['name'], registers: [registry] }),
    queueDuration: new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested.', labelNames: ['name'], buckets: [0.001, 0.01, 0.1, 1, 10, 60], registers: [registry] }),
    workDuration: new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes.', labelNames: ['name'], buckets: [0.001, 0.01, 0.1, 1, 10, 60], registers: [registry] }),
    writes: new Counter({ name: KUBE_WRITES_METRIC, help: 'Requests that change cluster state, by verb and kind.', labelNames: ['verb', 'kind'], registers: [registry] }),
    leader: new Gauge({ name: 'leader_election_master_status', help: 'Whether this instance is the leader (1) or not (0).', labelNames: ['name'], registers: [registry] }),
    monitoringServed: new Gauge({ name: MONITORING_CRDS_SERVED_METRIC, help: '1 when the prometheus-operator kinds are served by the cluster.', registers: [registry] }),
    labels,
  };
}

export type OperatorMetrics = ReturnType<typeof operatorMetrics>;
