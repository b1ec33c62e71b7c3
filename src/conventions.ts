// Names other programs, people and our own modules depend on: condition types and reasons users
// read and alert on, labels and annotations on what we create, alert and label names routes and
// dashboards match, field managers that own parts of objects, metric names scraped by Prometheus.
// Changing a value here changes a contract (existing objects, alerts and dashboards stop matching),
// so each is defined once and imported by name. Sloth's internal/prometheus/conventions.go is the model.

// --- QwenService status conditions --------------------------------------------------------------

/** Condition types of a QwenService's status. */
export const ConditionType = {
  Ready: 'Ready',
  Progressing: 'Progressing',
  Degraded: 'Degraded',
  ModelReady: 'ModelReady',
  MonitoringReady: 'MonitoringReady',
  AutoscalingReady: 'AutoscalingReady',
  RolloutGated: 'RolloutGated',
  /** Whether the model fits the GPU and its decode speed can reach the SLA's floor (src/sizing/). */
  SLAFeasible: 'SLAFeasible',
  /** Owned by the SLA status loop (SLA_FIELD_MANAGER), never by the reconciler. */
  SLACompliant: 'SLACompliant',
} as const;

/** Condition reasons (also the reasons of the Events announcing them). */
export const Reason = {
  // Ready / Progressing / Degraded
  InvalidSpec: 'InvalidSpec',
  /** The QwenService asks for what the operator's tenant limits refuse (controller/tenant-limits.ts). */
  ImageNotAllowed: 'ImageNotAllowed',
  SmarthostNotAllowed: 'SmarthostNotAllowed',
  OwnershipConflict: 'OwnershipConflict',
  ApplyFailed: 'ApplyFailed',
  ScaledToZero: 'ScaledToZero',
  AllWorkersReady: 'AllWorkersReady',
  WorkersStarting: 'WorkersStarting',
  Creating: 'Creating',
  Complete: 'Complete',
  RollingOut: 'RollingOut',
  AsExpected: 'AsExpected',
  // What the worker pods say (controller/diagnose.ts)
  WaitingForGPU: 'WaitingForGPU',
  Unschedulable: 'Unschedulable',
  ImagePullBackOff: 'ImagePullBackOff',
  OOMKilled: 'OOMKilled',
  ModelLoadFailed: 'ModelLoadFailed',
  CrashLoopBackOff: 'CrashLoopBackOff',
  ModelDownloading: 'ModelDownloading',
  PodsPending: 'PodsPending',
  // ModelReady
  ModelLoaded: 'ModelLoaded',
  WaitingForWorkers: 'WaitingForWorkers',
  // MonitoringReady
  NotRequested: 'NotRequested',
  PrometheusOperatorMissing: 'PrometheusOperatorMissing',
  Configured: 'Configured',
  // AutoscalingReady
  KEDAMissing: 'KEDAMissing',
  PrometheusURLMissing: 'PrometheusURLMissing',
  WaitingForKEDA: 'WaitingForKEDA',
  ScaledObjectNotReady: 'ScaledObjectNotReady',
  ScalerActive: 'ScalerActive',
  ScalerIdle: 'ScalerIdle',
  // RolloutGated
  ArgoRolloutsMissing: 'ArgoRolloutsMissing',
  WaitingForArgoRollouts: 'WaitingForArgoRollouts',
  Healthy: 'Healthy',
  CanaryFailedSLO: 'CanaryFailedSLO',
  RolloutAborted: 'RolloutAborted',
  BudgetExhausted: 'BudgetExhausted',
  CanaryInconclusive: 'CanaryInconclusive',
  RolloutDegraded: 'RolloutDegraded',
  /** The Event (not a condition reason) when a canary is promoted. */
  RolloutPromoted: 'RolloutPromoted',
  // SLAFeasible (src/sizing/feasibility.ts)
  ContextExceedsModel: 'ContextExceedsModel',
  InsufficientMemory: 'InsufficientMemory',
  TokensPerSecondUnreachable: 'TokensPerSecondUnreachable',
  WithinPhysicalBounds: 'WithinPhysicalBounds',
  ReadingModelHeader: 'ReadingModelHeader',
  ModelHeaderUnreadable: 'ModelHeaderUnreadable',
  ModelHeaderUnavailable: 'ModelHeaderUnavailable',
  GPUProductUnknown: 'GPUProductUnknown',
  // SLACompliant
  PrometheusUnreachable: 'PrometheusUnreachable',
  BudgetBurning: 'BudgetBurning',
  ObjectiveMissed: 'ObjectiveMissed',
  NoTraffic: 'NoTraffic',
  WithinBudget: 'WithinBudget',
} as const;

// --- Field managers (server-side apply) ---------------------------------------------------------

/** The reconciler: every child object, and status except what the SLA loop owns. */
export const FIELD_MANAGER = 'qwen-operator';
/** The SLA status loop: status.sla and the SLACompliant condition only. */
export const SLA_FIELD_MANAGER = 'qwen-operator-sla';
/** Keeps a Deployment's replicas while the HPA takes them over (see Reconciler.handOffReplicas). */
export const REPLICAS_HANDOFF_MANAGER = 'qwen-operator-replicas-handoff';

/** The coordination.k8s.io Lease of leader election, unless --lease-name says otherwise. */
export const LEADER_LEASE_NAME = 'qwen-operator-leader';

// --- Labels and annotations on the objects we create --------------------------------------------

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
/** The QwenService a child (or a worker pod, which has no ownerReference to it) belongs to. */
export const LABEL_QWENSERVICE = 'qwenops.io/qwenservice';

/** Value of LABEL_MANAGED_BY; also the component name of our Events and logs. */
export const OPERATOR_NAME = 'qwen-operator';
/** Value of LABEL_NAME on the worker pods and everything serving them. */
export const WORKER_APP_NAME = 'qwen-worker';
/** Values of LABEL_COMPONENT. */
export const WORKER_COMPONENT = 'worker';
export const AUTOSCALER_COMPONENT = 'autoscaler';
export const ROLLOUT_COMPONENT = 'rollout';
export const ROLLOUT_GATE_COMPONENT = 'rollout-gate';

/** On an autoscaled Deployment: who sets spec.replicas, `autoscaler` (KEDA's HPA), `minReplicas` (the operator, KEDA missing) or `rollout`. */
export const REPLICAS_ANNOTATION = 'qwenops.io/replicas-from';
/** On a QwenService with spec.rollout: "true" lets a rollout start although an SLO's error budget is spent. */
export const IGNORE_BUDGET_ANNOTATION = 'qwenops.io/rollout-ignore-budget';

// --- Alerts -------------------------------------------------------------------------------------

export const BUDGET_BURN_ALERT = 'QwenSLOBudgetBurn';
export const METRICS_ABSENT_ALERT = 'QwenSLOMetricsAbsent';

/** Labels of our alerts (the rules set them; `namespace` comes from the scrape) that routes, inhibitions, the dashboard and the SLA loop match on. */
export const ALERT_NAME_LABEL = 'alertname';
export const NAMESPACE_LABEL = 'namespace';
export const QWENSERVICE_LABEL = 'qwenservice';
export const SLO_LABEL = 'slo';
export const SEVERITY_LABEL = 'severity';

/** Values of SEVERITY_LABEL: critical pages, warning opens a ticket. */
export const SEVERITIES = ['critical', 'warning'] as const;
export type Severity = (typeof SEVERITIES)[number];

// --- The operator's own metrics -----------------------------------------------------------------

export const KUBE_WRITES_METRIC = 'qwen_operator_kube_writes_total';
export const MONITORING_CRDS_SERVED_METRIC = 'qwen_operator_monitoring_crds_served';
