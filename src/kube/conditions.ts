// metav1.Condition bookkeeping, as apimachinery's meta.SetStatusCondition does it: lastTransitionTime
// moves only when the status flips, so a status recomputed from the same observations is
// byte-identical and is not written again. Shared by every writer of conditions (the reconciler,
// the SLA status loop), each for the condition types its field manager owns.

/** A metav1.Condition. */
export type Condition = {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
};

/** A condition as computed, before the bookkeeping fields are set. */
export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** A metav1.Time: RFC 3339 in whole seconds (the apiserver drops fractions, and we compare with what it returns). */
export function conditionTime(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], generation: number | undefined, now: string): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now;
    return { ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime };
  });
}

/** Conditions whose status or reason changed (for Events on transitions only). */
export function transitions(previous: Condition[] | undefined, next: Condition[]): Condition[] {
  return next.filter((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return !old || old.status !== c.status || old.reason !== c.reason;
  });
}
