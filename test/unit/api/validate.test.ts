import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { dump } from 'js-yaml';
import { validateYaml, parseQwenService, InvalidQwenServiceError } from '../../../src/api/validate.ts';
import { DEFAULT_MODEL_SOURCE } from '../../../src/api/qwenservice.ts';
import { invalidCases, documentOf } from '../../fixtures/invalid-qwenservices.ts';

const examples = readdirSync('manifests/examples').filter((f) => f.endsWith('.yaml'));

describe('QwenService validation', () => {
  it.each(examples)('accepts the example %s', (file) => {
    const results = validateYaml(readFileSync(`manifests/examples/${file}`, 'utf8'));
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) expect(r.ok ? [] : r.problems).toEqual([]);
  });

  it('fills the defaults of a minimal document', () => {
    const q = parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'm' }, spec: {} });
    expect(q.spec.model).toEqual({ source: DEFAULT_MODEL_SOURCE, contextSize: 8192, parallel: 4 });
    expect(q.spec.replicas).toBe(1);
    expect(q.spec.gpu.count).toBe(1);
    expect(q.spec.sla).toBeUndefined();
  });

  it('defaults the SLA window and the tokens/s objective', () => {
    const q = parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'm' }, spec: { sla: { outputTokensPerSecond: { min: 20 } } } });
    expect(q.spec.sla?.window).toBe('30d');
    expect(q.spec.sla?.outputTokensPerSecond?.objective).toBe('95%');
  });

  it('has a table of at least 20 bad documents', () => {
    expect(invalidCases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(invalidCases.map((c) => [c.name, c] as const))('rejects: %s', (_name, c) => {
    const text = c.yaml ?? dump(documentOf(c));
    const [result] = validateYaml(text);
    expect(result).toBeDefined();
    expect(result!.ok).toBe(false);
    const problems = result!.ok ? [] : result!.problems;
    const named = problems.filter((p) => p.path === c.field);
    expect(named.map((p) => `${p.path}: ${p.message}`)).toEqual(expect.arrayContaining([expect.stringMatching(c.says)]));
  });

  it('reports every problem of a document, not just the first', () => {
    const [r] = validateYaml(dump({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'x' }, spec: { replicas: -1, sla: { errorRate: '5', latency: { p95: 'fast' } } } }));
    expect(r!.ok).toBe(false);
    expect((r!.ok ? [] : r!.problems).map((p) => p.path).sort()).toEqual(['spec.replicas', 'spec.sla.errorRate', 'spec.sla.latency.p95']);
  });

  it('validates each document of a multi-document file separately', () => {
    const good = { apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'good' }, spec: {} };
    const bad = { ...good, metadata: { name: 'bad' }, spec: { replicas: 'x' } };
    const results = validateYaml(`${dump(good)}---\n${dump(bad)}`);
    expect(results.map((r) => [r.name, r.ok])).toEqual([['good', true], ['bad', false]]);
  });

  it('throws an error listing the fields from parseQwenService', () => {
    expect(() => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'x' }, spec: { replicas: -3 } }))
      .toThrow(InvalidQwenServiceError);
    expect(() => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'x' }, spec: { replicas: -3 } }))
      .toThrow(/spec\.replicas/);
  });
});
