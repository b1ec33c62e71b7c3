// Validation of QwenService documents for `qwen-operator validate` and `render`: every problem is
// reported with the field path it concerns, in the words a platform engineer can act on.
import { loadAll } from 'js-yaml';
import type { z } from 'zod';
import { API_VERSION, KIND, qwenServiceSchema, type QwenService } from './qwenservice.ts';

export type Problem = { path: string; message: string };
export type DocumentResult =
  | { index: number; name: string; ok: true; value: QwenService }
  | { index: number; name: string; ok: false; problems: Problem[] };

export class InvalidQwenServiceError extends Error {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
    this.name = 'InvalidQwenServiceError';
    this.problems = problems;
  }
}

/** `spec.alerting.receivers[0].name` from zod's path array. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(document)';
}

function issueToProblems(issue: z.core.$ZodIssue): Problem[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: formatPath([...issue.path, k]), message: 'unknown field' }));
  }
  if (issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined) return [{ path, message: 'is required' }];
  if (issue.code === 'invalid_type') return [{ path, message: `must be ${article(issue.expected)}` }];
  if (issue.code === 'too_small' && issue.origin === 'array') return [{ path, message: `must have at least ${issue.minimum} item(s)` }];
  if (issue.code === 'too_small' && issue.origin === 'string' && issue.minimum === 1) return [{ path, message: 'must not be empty' }];
  if (issue.code === 'too_small' && issue.message.startsWith('Too small')) return [{ path, message: `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}` }];
  if (issue.code === 'too_big' && issue.message.startsWith('Too big')) return [{ path, message: `must be at most ${issue.maximum}${issue.origin === 'string' ? ' characters' : ''}` }];
  if (issue.code === 'invalid_value') return [{ path, message: issue.message.startsWith('Invalid') ? `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` : issue.message }];
  return [{ path, message: issue.message }];
}

function article(type: string): string {
  if (type === 'int') return 'an integer';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** Validates one parsed document; returns the defaulted QwenService or the problems found. */
export function checkQwenService(doc: unknown): { ok: true; value: QwenService } | { ok: false; problems: Problem[] } {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { ok: false, problems: [{ path: '(document)', message: 'must be a mapping (a Kubernetes object)' }] };
  }
  const obj = doc as Record<string, unknown>;
  if (obj.kind !== KIND || obj.apiVersion !== API_VERSION) {
    return { ok: false, problems: [{ path: obj.kind !== KIND ? 'kind' : 'apiVersion', message: `not a QwenService: expected apiVersion ${API_VERSION} and kind ${KIND}, got ${String(obj.apiVersion)} ${String(obj.kind)}` }] };
  }
  const parsed = qwenServiceSchema.safeParse(doc, { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, problems: parsed.error.issues.flatMap(issueToProblems) };
}

/** Parses a QwenService or throws InvalidQwenServiceError naming every bad field. */
export function parseQwenService(doc: unknown): QwenService {
  const r = checkQwenService(doc);
  if (!r.ok) throw new InvalidQwenServiceError(r.problems);
  return r.value;
}

/** Validates every document of a (multi-document) YAML text. */
export function validateYaml(text: string): DocumentResult[] {
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    return [{ index: 0, name: '(yaml)', ok: false, problems: [{ path: '(yaml)', message: `YAML syntax error: ${msg}` }] }];
  }
  return docs
    .filter((d) => d !== null && d !== undefined)
    .map((doc, index) => {
      const name = nameOf(doc) ?? `document ${index + 1}`;
      const r = checkQwenService(doc);
      return r.ok ? { index, name, ok: true, value: r.value } : { index, name, ok: false, problems: r.problems };
    });
}

function nameOf(doc: unknown): string | undefined {
  const md = (doc as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (typeof md?.name !== 'string') return undefined;
  return typeof md.namespace === 'string' ? `${md.namespace}/${md.name}` : md.name;
}
