// Names of the objects the plan adds beside the workload: written by their renderer, read back by
// status (which AnalysisTemplate the Rollout's current step runs).
import type { QwenService } from '../api/qwenservice.ts';
import { formatDuration } from '../api/units.ts';

export const gateTemplateName = (qs: QwenService, window: number) => `${qs.metadata.name}-slo-gate-${formatDuration(window)}`;
export const budgetTemplateName = (qs: QwenService) => `${qs.metadata.name}-error-budget`;
