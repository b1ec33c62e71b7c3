import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { dump } from 'js-yaml';
import { validateYaml, parseQwenService, InvalidQwenServiceError } from '../../../src/api/validate.ts';
import { DEFAULT_MODEL_SOURCE } from '../../../src/api/qwenservice.ts';
import { invalidCases, documentOf, validSpecs } from '../../fixtures/invalid-qwenservices.ts';
import { hfUrl } from '../../../worker/src/model-source.ts';

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

  it('names only the broken field of each bad document: one mistake, no collateral problems', () => {
    // The bad documents are a valid base with one field broken: a problem reported anywhere else
    // is a validator that misattributes (or a base it no longer accepts).
    const elsewhere = invalidCases.flatMap((c) => {
      const [result] = validateYaml(c.yaml ?? dump(documentOf(c)));
      return (result?.ok !== false ? [] : result.problems).filter((p) => p.path !== c.field).map((p) => `${c.name}: ${p.path}: ${p.message}`);
    });
    expect(elsewhere).toEqual([]);
    expect(validateYaml(dump(documentOf({ name: 'base', spec: {}, field: '', says: /./ })))[0]).toMatchObject({ ok: true });
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

  it.each(validSpecs.map((c) => [c.name, c] as const))('accepts: %s', (_name, c) => {
    const [result] = validateYaml(dump(documentOf({ name: c.name, spec: c.spec, field: '', says: /./ })));
    expect(result!.ok ? [] : result!.problems).toEqual([]);
  });

  // The schema must accept exactly the hf: sources the worker can resolve: one it refuses would
  // crash-loop every pod, one it reads but the schema refuses would be a needless rejection.
  it.each([
    'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M', 'hf:owner/repo:Q8_0', 'hf:o.w-n_er/re.po:q', 'hf:owner/repo/model.gguf',
    'hf:owner/repo/dir/model-Q4.GGUF', 'hf:owner/repo', 'hf:owner/repo:', 'hf:owner/repo:Q4/x', 'hf:owner:Q4', 'hf:owner/repo/model.bin',
    'hf:ow ner/repo:Q4', 'hf:/repo:Q4', 'hf:owner/repo/.gguf', 'hf:owner/repo:Q4:K',
  ])('hf source %s: the schema agrees with the worker', (source) => {
    const worker = (() => { try { hfUrl(source); return true; } catch { return false; } })();
    const [result] = validateYaml(dump({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'hf' }, spec: { model: { source } } }));
    expect([source, result!.ok]).toEqual([source, worker]);
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
