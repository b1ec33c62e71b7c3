// Who owns a QwenService's worker count, and what each object says about it as a result. One row
// per owner, tried in order; a new owner is one more row here and the renderer of its own object,
// nothing else: the Deployment, Rollout and ScaledObject
// renderers, the replica hand-off and status read the fields below, never the owner's name.
import type { QwenService } from '../api/qwenservice.ts';
import { DEPLOYMENT, ROLLOUT } from './kinds.ts';
import type { ScalingPlan } from './scaling.ts';

/** What the owner table decides from. */
export type OwnerInputs = {
  qs: QwenService;
  scaling?: ScalingPlan;
  /** The ScaledObject is applied (spec.autoscaling, a Prometheus address, KEDA served). */
  scaledObject: boolean;
  /** The Rollout is applied (spec.rollout, a Prometheus address, Argo Rollouts served). */
  rollout: boolean;
  /** spec.router: a router holds requests while no worker runs, so the count may reach zero. */
  router: boolean;
};

/** What one owner means for the objects that carry a count. */
export type ReplicaOwnership = {
  /**
   * The Deployment's spec.replicas; absent when another writer sets it (the HPA, Argo): the
   * Deployment is then rendered without the field, after the replica hand-off kept its count.
   */
  deploymentReplicas?: number;
  /** The Deployment's REPLICAS_ANNOTATION: who sets the count when the spec does not (absent: the spec). */
  replicasFrom?: 'autoscaler' | 'minReplicas' | 'rollout';
  /** The Rollout's spec.replicas, when there is a Rollout; absent: set through its scale subresource. */
  rolloutReplicas?: number;
  /** What runs the pods, hence what KEDA's HPA scales. */
  scaleTarget: { apiVersion: string; kind: string };
  /** KEDA removes the last worker after this long without a request (the ScaledObject's minReplicaCount 0 and cooldownPeriod); absent: never below 1. */
  scaleToZeroAfterSeconds?: number;
};

export type OwnerRow = { name: string; owns: (i: OwnerInputs) => boolean; ownership: (i: OwnerInputs) => ReplicaOwnership };

export const REPLICA_OWNERS = [
  {
    // KEDA's HPA scales the Rollout through its scale subresource; Argo scales the Deployment to zero.
    name: 'rollout-via-hpa',
    owns: (i) => i.rollout && i.scaledObject,
    ownership: () => ({ replicasFrom: 'rollout', scaleTarget: ROLLOUT }),
  },
  {
    // The Rollout runs the pods at spec.replicas. Under spec.autoscaling without KEDA nothing sets
    // its count: Argo keeps what it has (its default, 1, when new).
    name: 'rollout',
    owns: (i) => i.rollout,
    ownership: (i) => ({ replicasFrom: 'rollout', scaleTarget: ROLLOUT, ...(i.scaling ? {} : { rolloutReplicas: i.qs.spec.replicas }) }),
  },
  {
    // minReplicas 0 behind a router: KEDA scales the Deployment between 0 and 1 itself (its
    // external-push trigger on the router's held and in-flight requests wakes it at once), its HPA
    // from 1 up. Our field manager owns the count no more than under the HPA.
    name: 'keda-to-zero',
    owns: (i) => i.scaledObject && i.router && i.scaling?.minReplicas === 0,
    ownership: (i) => ({ replicasFrom: 'autoscaler', scaleTarget: DEPLOYMENT, scaleToZeroAfterSeconds: i.scaling!.scaleToZeroAfterSeconds }),
  },
  {
    // KEDA's HPA (or a `kubectl scale`) sets the Deployment's count: our field manager must not own it.
    name: 'hpa',
    owns: (i) => i.scaledObject,
    ownership: () => ({ replicasFrom: 'autoscaler', scaleTarget: DEPLOYMENT }),
  },
  {
    // Autoscaling asked for, but nothing would scale (no KEDA or no Prometheus): the floor, and at
    // least one worker, since nothing would wake it from zero.
    name: 'min-replicas',
    owns: (i) => i.scaling !== undefined,
    ownership: (i) => ({ deploymentReplicas: Math.max(1, i.scaling!.minReplicas), replicasFrom: 'minReplicas', scaleTarget: DEPLOYMENT }),
  },
  {
    name: 'spec',
    owns: () => true,
    ownership: (i) => ({ deploymentReplicas: i.qs.spec.replicas, scaleTarget: DEPLOYMENT }),
  },
] as const satisfies readonly OwnerRow[];

export type ReplicaOwnerName = (typeof REPLICA_OWNERS)[number]['name'];

export type ReplicaPlan = ReplicaOwnership & {
  owner: ReplicaOwnerName;
  /** More than one worker may run (spec.replicas, or maxReplicas when autoscaled): a PodDisruptionBudget keeps one up through drains. */
  mayRunSeveral: boolean;
};

export function replicaPlan(i: OwnerInputs, owners: readonly OwnerRow[] = REPLICA_OWNERS): ReplicaPlan {
  const row = owners.find((o) => o.owns(i))!;
  return { owner: row.name as ReplicaOwnerName, ...row.ownership(i), mayRunSeveral: (i.scaling ? i.scaling.maxReplicas : i.qs.spec.replicas) > 1 };
}

/**
 * Workers the QwenService asks for now: spec.replicas, or when autoscaled what the HPA chose
 * last (`scaleTargetReplicas`, the spec.replicas of what runs the pods), minReplicas before it chose.
 */
export function desiredReplicas(qs: QwenService, scaling: ScalingPlan | undefined, scaleTargetReplicas: number | undefined): number {
  if (!scaling) return qs.spec.replicas;
  return typeof scaleTargetReplicas === 'number' ? scaleTargetReplicas : Math.max(1, scaling.minReplicas);
}
