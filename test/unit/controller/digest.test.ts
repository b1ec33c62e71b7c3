import { describe, expect, it } from '@jest/globals';
import { digestLargeFields, digestOf, digestView } from '../../../src/controller/digest.ts';

const rule = (expr: string) => ({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'r', labels: { a: 'b' } }, spec: { groups: [{ name: 'g', rules: [{ record: 'x', expr }] }] } });

describe('digests of large fields', () => {
  it('ignores key order', () => {
    expect(digestOf({ a: 1, b: { c: [1, 2] } })).toBe(digestOf({ b: { c: [1, 2] }, a: 1 }));
    expect(digestOf({ a: 1 })).not.toBe(digestOf({ a: 2 }));
  });

  it('digests the apiserver\'s JSON (keys sorted: one native pass) as the canonical form of what is rendered', () => {
    // Rendered: keys in the renderer's order, an undefined member (written as null), integer-like
    // keys (which objects enumerate in numeric order, not sorted as strings).
    const rendered = { spec: { b: '2', a: [{ y: 1, x: undefined }] }, data: { 9: 'nine', 10: 'ten', k: 'v' } };
    const stored = JSON.parse('{"data":{"10":"ten","9":"nine","k":"v"},"spec":{"a":[{"x":null,"y":1}],"b":"2"}}');
    expect(digestOf(stored)).toBe(digestOf(rendered));
    expect(digestOf(stored.spec)).toBe(digestOf(rendered.spec));
    expect(digestOf({ ...stored, spec: { ...stored.spec, b: '3' } })).not.toBe(digestOf(rendered));
  });

  it('caches a PrometheusRule without its spec and still sees a changed rule', () => {
    const cached = digestLargeFields(structuredClone(rule('sum(x)')));
    expect(cached.spec).toBeUndefined();
    expect(digestView(rule('sum(x)'), cached).digestsMatch).toBe(true);
    expect(digestView(rule('sum(y)'), cached).digestsMatch).toBe(false);
    expect(digestView(rule('sum(x)'), cached).rest).toEqual({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'r', labels: { a: 'b' } } });
  });

  it('leaves other kinds whole', () => {
    const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 1 } };
    expect(digestLargeFields(structuredClone(dep))).toEqual(dep);
  });
});
