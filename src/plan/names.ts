// Names of the objects the plan adds beside the workload: written by their renderer, read back by
// status (which AnalysisTemplate the Rollout's current step runs).
import type { QwenService } from '../api/qwenservice.ts';
import { formatDuration } from '../api/units.ts';
import { routerServiceOf } from '../sla/sli.ts';

export const gateTemplateName = (qs: QwenService, window: number) => `${qs.metadata.name}-slo-gate-${formatDuration(window)}`;
export const budgetTemplateName = (qs: QwenService) => `${qs.metadata.name}-error-budget`;
/**
 * The Service through which the router pods' admin port (/metrics) is scraped: its name is the
 * `service` label the SLIs select the router's series by (sla/sli.ts routerServiceOf).
 */
export const routerServiceName = (qs: QwenService) => routerServiceOf(qs.metadata.name);

// With spec.router the Service named after the QwenService selects the router pods (the client's
// endpoint does not change) and the workers get a Service of their own for the router to follow.
/** The router's Deployment, ServiceAccount, Role, RoleBinding, PodDisruptionBudget and headless Service (its peers, KEDA's scaler address). */
export const routerName = (qs: QwenService) => `${qs.metadata.name}-router`;
/** The workers' Service when a router is in front of them (the router follows its EndpointSlices). */
export const workersServiceName = (qs: QwenService) => `${qs.metadata.name}-workers`;
