import { describe, expect, it } from '@jest/globals';
import { internStrings } from '../../../src/controller/intern.ts';

describe('interning the strings of cached objects', () => {
  it('leaves every value as it was, numbers, booleans, nulls and long strings included', () => {
    const long = 'x'.repeat(200);
    const obj = { metadata: { name: 'svc-1', labels: { 'app.kubernetes.io/name': 'qwen-worker', 1: '2' } }, spec: { replicas: 1, paused: false, none: null, args: ['--port', '8080', long], nested: [[{ a: 'b' }]] } };
    const copy = structuredClone(obj);
    expect(internStrings(copy)).toBe(copy);
    expect(copy).toEqual(obj);
  });
});
