// What spec.autoscaling resolves to (the API's defaults applied, the SLOs whose burn scales out).
import type { QwenService } from '../api/qwenservice.ts';
import { parseDuration } from '../api/units.ts';
import type { Slo } from '../sla/slos.ts';
import { scalingSlos } from '../sla/triggers.ts';

export type ScalingPlan = {
  minReplicas: number;
  maxReplicas: number;
  targetInFlightPerReplica: number;
  /** SLOs whose burn scales out (empty: scaleOnSLOBurn is off or there are none). */
  burnSlos: Slo[];
  scaleDownStabilizationSeconds: number;
  /** With minReplicas 0: how long without a request before KEDA removes the last worker (its cooldownPeriod). */
  scaleToZeroAfterSeconds: number;
};

export function scalingPlan(qs: QwenService, slos: Slo[]): ScalingPlan | undefined {
  const a = qs.spec.autoscaling;
  if (!a) return undefined;
  return {
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
    targetInFlightPerReplica: a.targetInFlightPerReplica ?? qs.spec.model.parallel,
    // Default on exactly when there is something to burn; explicit true with no such SLO is a no-op.
    burnSlos: (a.scaleOnSLOBurn ?? true) ? scalingSlos(slos) : [],
    scaleDownStabilizationSeconds: parseDuration(a.scaleDownStabilization),
    // KEDA's cooldownPeriod is whole seconds.
    scaleToZeroAfterSeconds: Math.ceil(parseDuration(a.scaleToZeroAfter)),
  };
}
