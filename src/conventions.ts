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

type ConditionTypeName = (typeof ConditionType)[keyof typeof ConditionType];
export type EventType = 'Normal' | 'Warning';

/**
 * What a reason means: the conditions it explains, and the Event that announces a transition to it
 * (none: not worth an Event, e.g. every step of a start). Events and status derive from this one
 * table; a reason is never a condition type. `*Missing` (a dependency the cluster lacks) is a Warning.
 */
export type ReasonMeaning = { conditions: readonly ConditionTypeName[]; event?: EventType };

const BLOCKING = ['Ready', 'Progressing', 'Degraded'] as const;

export const REASONS = {
  // Ready / Progressing / Degraded: nothing applied, or a child not written
  InvalidSpec: { conditions: BLOCKING, event: 'Warning' },
  /** The QwenService asks for what the operator's tenant limits refuse (controller/tenant-limits.ts). */
  ImageNotAllowed: { conditions: BLOCKING, event: 'Warning' },
  SmarthostNotAllowed: { conditions: BLOCKING, event: 'Warning' },
  OwnershipConflict: { conditions: BLOCKING, event: 'Warning' },
  ApplyFailed: { conditions: BLOCKING, event: 'Warning' },
  ScaledToZero: { conditions: ['Ready'], event: 'Normal' },
  AllWorkersReady: { conditions: ['Ready'], event: 'Normal' },
  WorkersStarting: { conditions: ['Ready'] },
  Creating: { conditions: ['Ready'] },
  Complete: { conditions: ['Progressing'] },
  RollingOut: { conditions: ['Progressing'] },
  AsExpected: { conditions: ['Degraded'] },
  // What the worker pods say (controller/diagnose.ts)
  WaitingForGPU: { conditions: BLOCKING, event: 'Warning' },
  Unschedulable: { conditions: BLOCKING, event: 'Warning' },
  ImagePullBackOff: { conditions: BLOCKING, event: 'Warning' },
  OOMKilled: { conditions: BLOCKING, event: 'Warning' },
  ModelLoadFailed: { conditions: [...BLOCKING, 'ModelReady'], event: 'Warning' },
  CrashLoopBackOff: { conditions: BLOCKING, event: 'Warning' },
  ModelDownloading: { conditions: ['Ready', 'ModelReady'] },
  PodsPending: { conditions: ['Ready'] },
  // ModelReady
  ModelLoaded: { conditions: ['ModelReady'] },
  WaitingForWorkers: { conditions: ['ModelReady'] },
  // MonitoringReady
  NotRequested: { conditions: ['MonitoringReady'] },
  PrometheusOperatorMissing: { conditions: ['MonitoringReady'], event: 'Warning' },
  Configured: { conditions: ['MonitoringReady'] },
  // AutoscalingReady (a Ready=False reason of KEDA's own is passed through, without an Event)
  KEDAMissing: { conditions: ['AutoscalingReady'], event: 'Warning' },
  PrometheusURLMissing: { conditions: ['AutoscalingReady', 'RolloutGated'], event: 'Warning' },
  WaitingForKEDA: { conditions: ['AutoscalingReady'] },
  ScaledObjectNotReady: { conditions: ['AutoscalingReady'] },
  ScalerActive: { conditions: ['AutoscalingReady'] },
  ScalerIdle: { conditions: ['AutoscalingReady'] },
  // RolloutGated
  ArgoRolloutsMissing: { conditions: ['RolloutGated'], event: 'Warning' },
  WaitingForArgoRollouts: { conditions: ['RolloutGated'] },
  Healthy: { conditions: ['RolloutGated'] },
  CanaryProgressing: { conditions: ['RolloutGated'] },
  CanaryFailedSLO: { conditions: ['RolloutGated'], event: 'Warning' },
  RolloutAborted: { conditions: ['RolloutGated'], event: 'Warning' },
  BudgetExhausted: { conditions: ['RolloutGated'], event: 'Warning' },
  CanaryInconclusive: { conditions: ['RolloutGated'], event: 'Warning' },
  RolloutDegraded: { conditions: ['RolloutGated'], event: 'Warning' },
  /** An Event only (no condition): a canary was promoted. */
  RolloutPromoted: { conditions: [], event: 'Normal' },
  // SLAFeasible (src/sizing/feasibility.ts, src/sizing/plan.ts): a Warning where the spec cannot be met or the head not read
  ContextExceedsModel: { conditions: ['SLAFeasible'], event: 'Warning' },
  InsufficientMemory: { conditions: ['SLAFeasible'], event: 'Warning' },
  TokensPerSecondUnreachable: { conditions: ['SLAFeasible'], event: 'Warning' },
  WithinPhysicalBounds: { conditions: ['SLAFeasible'] },
  ReadingModelHeader: { conditions: ['SLAFeasible'] },
  ModelHeaderUnreadable: { conditions: ['SLAFeasible'], event: 'Warning' },
  ModelHeaderUnavailable: { conditions: ['SLAFeasible'] },
  GPUProductUnknown: { conditions: ['SLAFeasible'] },
  // SLACompliant (the SLA status loop announces every transition)
  PrometheusUnreachable: { conditions: ['SLACompliant'], event: 'Warning' },
  BudgetBurning: { conditions: ['SLACompliant'], event: 'Warning' },
  ObjectiveMissed: { conditions: ['SLACompliant'], event: 'Warning' },
  NoTraffic: { conditions: ['SLACompliant'], event: 'Normal' },
  WithinBudget: { conditions: ['SLACompliant'], event: 'Normal' },
} as const satisfies Record<string, ReasonMeaning>;

export type ReasonName = keyof typeof REASONS;

/** Condition reasons (also the reasons of the Events announcing them), by name. */
export const Reason = Object.fromEntries(Object.keys(REASONS).map((k) => [k, k])) as { readonly [K in ReasonName]: K };

/** The Event a transition to `reason` is announced with; undefined: none (or a reason not ours, e.g. KEDA's). */
export function eventTypeOf(reason: string): EventType | undefined {
  return (REASONS as Record<string, ReasonMeaning>)[reason]?.event;
}

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
/** Value of LABEL_NAME on the router pods (spec.router) and everything serving them. */
export const ROUTER_APP_NAME = 'qwen-router';
/** Values of LABEL_COMPONENT. */
export const WORKER_COMPONENT = 'worker';
export const ROUTER_COMPONENT = 'router';
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
