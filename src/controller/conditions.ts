// metav1.Condition bookkeeping: lastTransitionTime moves only when the status flips, so a
// status recomputed from the same observations is byte-identical and is not written again.
import type { Condition } from '../api/qwenservice.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], generation: number | undefined, now: string): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now;
    return { ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime };
  });
}

/** Conditions whose status changed (for Events on transitions only). */
export function transitions(previous: Condition[] | undefined, next: Condition[]): Condition[] {
  return next.filter((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return !old || old.status !== c.status || old.reason !== c.reason;
  });
}
