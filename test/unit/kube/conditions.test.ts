import { describe, expect, it } from '@jest/globals';
import { conditionTime, mergeConditions, transitions } from '../../../src/kube/conditions.ts';

const ready = (status: 'True' | 'False', reason: string) => ({ type: 'Ready', status, reason, message: reason });

describe('conditions', () => {
  it('keeps lastTransitionTime while the status holds', () => {
    const first = mergeConditions(undefined, [ready('False', 'WaitingForGPU')], 1, 't1');
    const again = mergeConditions(first, [ready('False', 'ModelDownloading')], 1, 't2');
    expect(again[0]!.lastTransitionTime).toBe('t1');
    const flipped = mergeConditions(again, [ready('True', 'AllWorkersReady')], 1, 't3');
    expect(flipped[0]!.lastTransitionTime).toBe('t3');
    expect(flipped[0]!.observedGeneration).toBe(1);
  });
  it('reports transitions of status or reason only', () => {
    const a = mergeConditions(undefined, [ready('False', 'WaitingForGPU')], 1, 't1');
    expect(transitions(a, a)).toEqual([]);
    const b = mergeConditions(a, [ready('False', 'CrashLoopBackOff')], 1, 't2');
    expect(transitions(a, b).map((c) => c.reason)).toEqual(['CrashLoopBackOff']);
    expect(transitions(undefined, a)).toHaveLength(1);
  });
  it('stamps times in whole seconds, as the apiserver stores them', () => {
    expect(conditionTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05Z');
  });
});
