// The generated QwenService CRD against the real apiserver: it installs and becomes Established,
// the shipped examples are accepted, [F]'s table of bad documents is rejected naming the field
// (both create with fieldValidation=Strict and server-side apply), printer columns, kubectl explain.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { apply, create, get, installCrds, kubectl, KubeError, readManifests, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { documentOf, invalidCases } from '../../fixtures/invalid-qwenservices.ts';

const root = join(import.meta.dirname, '..', '..', '..');
// QWEN_QWS_CRD: try a candidate CRD file without regenerating crds/.
const crdFile = process.env.QWEN_QWS_CRD ?? join(root, 'crds', 'qwenops.io_qwenservices.yaml');
const examplesDir = join(root, 'manifests', 'examples');

interface Crd {
  spec: { versions: { name: string; additionalPrinterColumns?: { name: string; priority?: number }[]; schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { description?: string }> } } } } }[] };
}
const crd = load(readFileSync(crdFile, 'utf8')) as Crd;
const version = crd.spec.versions[0]!;
let ns: string;

function escape(s: string): string { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

function inNamespace(doc: Record<string, unknown>, name?: string): KubeObject {
  const meta = (doc.metadata ?? {}) as Record<string, unknown>;
  return { ...doc, metadata: { ...meta, ...(name ? { name } : {}), namespace: ns } } as KubeObject;
}

async function rejection(p: Promise<unknown>): Promise<KubeError> {
  const r = await p.then(() => undefined, (e: unknown) => e);
  if (!(r instanceof KubeError)) throw new Error(`expected the apiserver to reject the document, got ${r === undefined ? 'acceptance' : String(r)}`);
  return r;
}

beforeAll(async () => {
  await installCrds(testCluster(), [crdFile]);
  ns = await testNamespace('qws-crd');
}, 60_000);

describe('QwenService CRD on the real apiserver', () => {
  test('installs and is Established, with short name qws', async () => {
    const cur = await get<{ spec: { names: { shortNames: string[] } }; status: { conditions: { type: string; status: string }[] } }>(testCluster(), 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'qwenservices.qwenops.io');
    expect(cur?.status.conditions).toContainEqual(expect.objectContaining({ type: 'Established', status: 'True' }));
    expect(cur?.spec.names.shortNames).toContain('qws');
  });

  const examples = readdirSync(examplesDir).filter((f) => /\.ya?ml$/.test(f)).sort();
  test.each(examples)('example %s is accepted (server-side apply, fieldValidation=Strict)', async (file) => {
    for (const doc of readManifests([join(examplesDir, file)])) {
      const applied = await apply<KubeObject>(testCluster(), inNamespace(doc));
      expect(applied.metadata.uid).toBeTruthy();
    }
  });

  const replayed = invalidCases.filter((c) => !c.clientOnly);
  test.each(replayed.map((c, i) => [c.name, i] as const))('rejects: %s', async (_name, i) => {
    const c = replayed[i]!;
    const doc = documentOf(c);
    const meta = doc.metadata as { name: string };
    const name = meta.name === 'bad' ? `bad-${i}` : meta.name;
    const field = new RegExp(`(^|[\\s".[])${escape(c.field)}`);
    const created = await rejection(create(testCluster(), inNamespace(doc, name), 'Strict'));
    expect(created.message).toMatch(field);
    // Server-side apply names list items of map-type lists by key (receivers[name="hook"]).
    const ssaField = new RegExp(`(^|[\\s".[])${escape(c.field).replace(/\\\[\d+\\\]/g, '\\[(\\d+|[^\\]]+)\\]')}`);
    const applied = await rejection(apply(testCluster(), inNamespace(doc, name)));
    expect(applied.message).toMatch(ssaField);
  });

  test('kubectl get qws shows the printer columns', async () => {
    const res = await kubectl(testCluster(), ['get', 'qws', '-n', ns, '-o', 'wide']);
    expect(res.code).toBe(0);
    const header = res.stdout.split('\n')[0]!.trim().split(/\s+/);
    const columns = ['NAME', ...(version.additionalPrinterColumns ?? []).map((c) => c.name.toUpperCase())];
    expect(header).toEqual(columns);
    for (const file of examples) for (const doc of readManifests([join(examplesDir, file)])) expect(res.stdout).toContain(doc.metadata.name);
  });

  test('kubectl explain qws.spec.sla shows the descriptions', async () => {
    const res = await kubectl(testCluster(), ['explain', 'qws.spec.sla']);
    expect(res.code).toBe(0);
    const description = version.schema.openAPIV3Schema.properties.spec.properties.sla?.description;
    expect(description).toBeTruthy();
    expect(res.stdout.replace(/\s+/g, ' ')).toContain(description!.replace(/\s+/g, ' ').slice(0, 60));
    expect(res.stdout).toMatch(/FIELDS:/);
    expect(res.stdout).not.toMatch(/<empty>/);
  });
});
