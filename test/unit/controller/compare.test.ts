import { describe, expect, it } from '@jest/globals';
import { containedIn, sameJson } from '../../../src/controller/compare.ts';

describe('containedIn', () => {
  it('ignores fields the apiserver added', () => {
    expect(containedIn({ spec: { replicas: 2 } }, { spec: { replicas: 2, revisionHistoryLimit: 10 }, status: {} })).toBe(true);
  });
  it('sees a changed field', () => {
    expect(containedIn({ spec: { replicas: 2 } }, { spec: { replicas: 3 } })).toBe(false);
  });
  it('compares arrays element by element and by length', () => {
    expect(containedIn({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] })).toBe(true);
    expect(containedIn({ a: [{ x: 1 }] }, { a: [{ x: 1 }, { x: 2 }] })).toBe(false);
  });
  it('treats 1 and "1" alike (int-or-string)', () => {
    expect(containedIn({ limits: { 'nvidia.com/gpu': '1' } }, { limits: { 'nvidia.com/gpu': 1 } })).toBe(true);
  });
  it('sees a missing field', () => {
    expect(containedIn({ metadata: { labels: { a: 'b' } } }, { metadata: {} })).toBe(false);
  });
  it('sameJson is symmetric', () => {
    expect(sameJson({ a: 1, b: [1] }, { b: [1], a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });
});
