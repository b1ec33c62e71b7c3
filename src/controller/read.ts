// What the operator reads back from objects others write (Argo Rollouts' Rollout and AnalysisRun
// status, KEDA's ScaledObject conditions, the count the HPA or Argo set in spec.replicas), parsed
// once into declared types. A field of an unexpected shape reads as absent (a controller of a
// newer version may write more, or differently): status then says "not known yet" instead of
// acting on a misread value. Pure.
import { z } from 'zod';
import type { KubeObject } from '../kube/object.ts';

/** An optional field that reads as absent when its shape is not the declared one. */
const opt = <T extends z.ZodType>(t: T) => t.optional().catch(undefined);
const list = <T extends z.ZodType>(t: T) => z.array(z.unknown()).catch([]).transform((items) => items.flatMap((x) => { const r = t.safeParse(x); return r.success ? [r.data as z.output<T>] : []; }));

const rolloutStatus = z.object({
  phase: opt(z.string()),
  stableRS: opt(z.string()),
  message: opt(z.string()),
  abort: opt(z.boolean()),
  currentStepIndex: opt(z.number()),
  currentPodHash: opt(z.string()),
  pauseConditions: opt(list(z.object({ reason: z.string() }))),
  canary: opt(z.object({ currentStepAnalysisRunStatus: opt(z.object({ name: opt(z.string()), status: opt(z.string()), message: opt(z.string()) })) })),
  replicas: opt(z.number()),
  readyReplicas: opt(z.number()),
  availableReplicas: opt(z.number()),
  updatedReplicas: opt(z.number()),
});
export type RolloutStatus = z.output<typeof rolloutStatus>;

/** A canary step as the Rollout spells it (`{ setWeight: 25 }`, `{ pause: { duration } }`, `{ analysis: { templates } }`). */
const canaryStep = z.object({
  setWeight: opt(z.number()),
  pause: opt(z.object({ duration: opt(z.union([z.string(), z.number()])) })),
  analysis: opt(z.object({ templates: list(z.object({ templateName: z.string() })) })),
});
export type CanaryStep = z.output<typeof canaryStep>;
const rolloutSpec = z.object({ strategy: opt(z.object({ canary: opt(z.object({ steps: list(canaryStep) })) })) });

const metricResult = z.object({
  name: z.string(),
  phase: opt(z.string()),
  message: opt(z.string()),
  measurements: opt(list(z.object({ phase: opt(z.string()), value: opt(z.string()) }))),
});
export type MetricResult = z.output<typeof metricResult>;
const analysisRunStatus = z.object({ phase: opt(z.string()), metricResults: opt(list(metricResult)) });

const kedaCondition = z.object({ type: z.string(), status: opt(z.string()), reason: opt(z.string()), message: opt(z.string()) });
export type KedaCondition = z.output<typeof kedaCondition>;

const specReplicas = z.object({ replicas: opt(z.number().int().min(0)) });

const parse = <T extends z.ZodType>(schema: T, value: unknown): z.output<T> | undefined => {
  const r = schema.safeParse(value ?? {});
  return r.success ? r.data : undefined;
};

/** The Rollout's status (absent fields when Argo has written none) and its canary steps. */
export function readRollout(rollout: KubeObject | undefined): { status: RolloutStatus; steps: CanaryStep[] } {
  return {
    status: parse(rolloutStatus, rollout?.status) ?? {},
    steps: parse(rolloutSpec, rollout?.spec)?.strategy?.canary?.steps ?? [],
  };
}

export function readAnalysisRun(run: KubeObject | undefined): { phase?: string; metricResults: MetricResult[] } {
  const s = parse(analysisRunStatus, run?.status);
  return { ...(s?.phase !== undefined ? { phase: s.phase } : {}), metricResults: s?.metricResults ?? [] };
}

export function readScaledObjectConditions(scaledObject: KubeObject | undefined): KedaCondition[] {
  return parse(z.object({ conditions: opt(list(kedaCondition)) }), scaledObject?.status)?.conditions ?? [];
}

/** spec.replicas of a Deployment or a Rollout: the count the HPA (or Argo, or a person) set; absent when unset. */
export function readSpecReplicas(workload: KubeObject | undefined): number | undefined {
  return parse(specReplicas, workload?.spec)?.replicas;
}
