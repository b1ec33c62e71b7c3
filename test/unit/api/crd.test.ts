import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { buildCrd, crdYaml } from '../../../src/api/crd.ts';
import { toStructural } from '../../../src/api/structural.ts';

type Schema = Record<string, unknown>;

function walk(schema: Schema, path: string, visit: (s: Schema, path: string) => void): void {
  visit(schema, path);
  for (const [k, v] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) walk(v, `${path}.${k}`, visit);
  if (schema.items) walk(schema.items as Schema, `${path}[]`, visit);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') walk(schema.additionalProperties as Schema, `${path}{}`, visit);
}

const crd = buildCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema }; additionalPrinterColumns: Array<{ name: string }> }> } };
const root = crd.spec.versions[0]!.schema.openAPIV3Schema;

describe('generated CRD', () => {
  it('is what crds/ holds (run `npm run generate` after changing src/api)', () => {
    expect(readFileSync('crds/qwenops.io_qwenservices.yaml', 'utf8')).toBe(crdYaml());
    expect(load(crdYaml())).toEqual(JSON.parse(JSON.stringify(buildCrd())));
  });

  it('is structural: every node typed, no JSON-Schema-only keywords', () => {
    const forbidden = ['$schema', 'propertyNames', 'const', 'oneOf', '$ref', 'definitions'];
    walk(root, '', (s, path) => {
      for (const k of forbidden) expect([path, k in s]).toEqual([path, false]);
      if (!s['x-kubernetes-int-or-string']) expect([path, typeof s.type]).toEqual([path, 'string']);
      if (s.properties) expect([path, 'additionalProperties' in s]).toEqual([path, false]);
    });
  });

  it('documents every spec field (kubectl explain)', () => {
    const missing: string[] = [];
    walk((root.properties as Record<string, Schema>).spec!, 'spec', (s, path) => {
      if (!s.description && !path.endsWith('{}') && !path.endsWith('[]') && !/secretKeyRef\.|tolerations\[\]\.|resources\./.test(path)) missing.push(path);
    });
    expect(missing).toEqual([]);
  });

  // JavaScript (zod) and Go's RE2 (the apiserver) read these differently: \s and \S (Unicode
  // spaces and \v), \b and `.` (line terminators). Every pattern spells its classes out instead;
  // test/integration/cluster/pattern-agreement.test.ts checks the verdicts against a real apiserver.
  it('writes every pattern with explicit classes, in the syntax both engines read alike', () => {
    const ambiguous: string[] = [];
    walk(root, '', (s, path) => {
      if (typeof s.pattern !== 'string') return;
      // Escapes of one character go, then whole classes: what is left may not be a bare `.`.
      const outsideClasses = s.pattern.replace(/\\[^sSwWdDbB]/g, '').replace(/\[[^\]]*\]/g, '');
      if (/\\[sSwWdDbB]/.test(s.pattern) || outsideClasses.includes('.')) ambiguous.push(`${path}: ${s.pattern}`);
    });
    expect(ambiguous).toEqual([]);
  });

  it('carries the cross-field CEL rules', () => {
    const text = JSON.stringify(root);
    expect(text).toContain('duration(self.p99) >= duration(self.p95)');
    expect(text).toContain('self.receivers.exists(x, x.name == r)');
    expect(text).toContain('filter(x, x).size() == 1');
  });

  it('has the printer columns and the scale subresource', () => {
    expect(crd.spec.versions[0]!.additionalPrinterColumns.map((c) => c.name)).toEqual(['Ready', 'Replicas', 'Model', 'P95', 'SLA', 'Reason', 'Min', 'Max', 'Desired', 'Rollout', 'Router', 'Feasible', 'Age']);
    // -o wide only: the router's ready/asked-for pods.
    expect(crd.spec.versions[0]!.additionalPrinterColumns.find((c) => c.name === 'Router')).toMatchObject({ jsonPath: '.status.router.ready', priority: 1 });
    // -o wide only: SLAFeasible's reason (docs/sizing.md).
    expect(crd.spec.versions[0]!.additionalPrinterColumns.find((c) => c.name === 'Feasible')).toMatchObject({ jsonPath: '.status.conditions[?(@.type=="SLAFeasible")].reason', priority: 1 });
    expect(JSON.stringify(crd)).toContain('"specReplicasPath":".spec.replicas"');
  });
});

describe('toStructural', () => {
  it('turns numeric exclusiveMinimum into the boolean form', () => {
    expect(toStructural({ type: 'number', exclusiveMinimum: 0 })).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true });
  });
  it('drops the safe-integer bounds zod adds', () => {
    expect(toStructural({ type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 })).toEqual({ type: 'integer' });
  });
  it('writes const as a one-value enum', () => {
    expect(toStructural({ type: 'string', const: 'x' })).toEqual({ type: 'string', enum: ['x'] });
  });
  it('keeps maps and drops propertyNames', () => {
    expect(toStructural({ type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'string' } }))
      .toEqual({ type: 'object', additionalProperties: { type: 'string' } });
  });
  it('drops additionalProperties:false beside properties', () => {
    expect(toStructural({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }))
      .toEqual({ type: 'object', properties: { a: { type: 'string' } } });
  });
  it('maps string|number unions to int-or-string and refuses other unions', () => {
    expect(toStructural({ anyOf: [{ type: 'string' }, { type: 'number' }] })).toEqual({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] });
    expect(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'boolean' }] })).toThrow(/cannot express union/);
  });
  it('marks free-form objects as preserving unknown fields', () => {
    expect(toStructural({ type: 'object' })).toEqual({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  });
});
