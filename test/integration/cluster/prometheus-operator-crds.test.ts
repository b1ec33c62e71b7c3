// The real prometheus-operator CRDs (from the pinned Go module, never hand-written) install on the
// real apiserver, and fieldValidation=Strict turns a misspelt field into a rejection.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { cacheDir } from '../../support/tools.ts';
import { apply, create, get, installCrds, kubectl, KubeError, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';

const crdDir = join(cacheDir, 'prometheus-operator-crds');
let ns: string;

function serviceMonitor(name: string, endpoint: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor',
    metadata: { name, namespace: ns, labels: { release: 'kube-prometheus-stack' } },
    spec: { selector: { matchLabels: { app: 'qwen' } }, endpoints: [endpoint] },
  };
}

beforeAll(async () => {
  await installCrds(testCluster(), [crdDir]);
  ns = await testNamespace('promop');
}, 120_000);

describe('prometheus-operator CRDs', () => {
  test('every CRD of the module is Established and served', async () => {
    const names = ['servicemonitors', 'podmonitors', 'prometheusrules', 'alertmanagerconfigs', 'prometheuses', 'alertmanagers']
      .map((p) => `${p}.monitoring.coreos.com`);
    for (const name of names) {
      const crd = await get<{ status: { conditions: { type: string; status: string }[] } }>(testCluster(), 'apiextensions.k8s.io/v1', 'CustomResourceDefinition', name);
      expect(crd?.status.conditions).toContainEqual(expect.objectContaining({ type: 'Established', status: 'True' }));
    }
  });

  test('a valid ServiceMonitor is accepted with fieldValidation=Strict', async () => {
    const sm = await apply<KubeObject>(testCluster(), serviceMonitor('ok', { port: 'metrics', interval: '15s', path: '/metrics' }));
    expect(sm.metadata.name).toBe('ok');
  });

  test('a misspelt field is rejected with fieldValidation=Strict and the message names it', async () => {
    const bad = serviceMonitor('typo', { port: 'metrics', intervall: '15s' });
    const err = await create(testCluster(), bad, 'Strict').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(400);
    expect((err as KubeError).message).toMatch(/strict decoding error: unknown field "spec\.endpoints\[0\]\.intervall"/);
    // Only Strict makes it an error on create/update: under Ignore the field is pruned silently.
    await expect(create(testCluster(), { ...bad, metadata: { ...bad.metadata, name: 'typo-ignored' } }, 'Ignore')).resolves.toBeTruthy();
  });

  test('server-side apply rejects a misspelt field whatever fieldValidation says', async () => {
    // Seen on 1.36: SSA cannot build a typed patch for a field the CRD schema lacks, and answers
    // 500 "field not declared in schema" even under Ignore. The operator applies with SSA, so its
    // rendered objects must match the CRDs exactly (which is what the render tests check).
    for (const fieldValidation of ['Strict', 'Ignore'] as const) {
      const err = await apply(testCluster(), serviceMonitor('typo-ssa', { port: 'metrics', intervall: '15s' }), { fieldValidation }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KubeError);
      expect((err as KubeError).message).toMatch(/\.spec\.endpoints\[0\]\.intervall: field not declared in schema/);
    }
  });

  test('a wrongly typed field is rejected by the CRD schema', async () => {
    const err = await create(testCluster(), serviceMonitor('type', { port: 9090 })).then(() => undefined, (e: unknown) => e);
    expect((err as KubeError).status).toBe(422);
    expect((err as KubeError).message).toMatch(/spec\.endpoints\[0\]\.port: Invalid value/);
  });

  test('kubectl rejects the misspelt field too (create --validate=strict, apply --server-side)', async () => {
    const doc = JSON.stringify(serviceMonitor('typo-kubectl', { port: 'metrics', scrapeTimout: '10s' }));
    const created = await kubectl(testCluster(), ['create', '--validate=strict', '-f', '-'], doc);
    expect(created.code).not.toBe(0);
    expect(created.stderr).toMatch(/unknown field "spec\.endpoints\[0\]\.scrapeTimout"/);
    const applied = await kubectl(testCluster(), ['apply', '--server-side', '-f', '-'], doc);
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toMatch(/\.spec\.endpoints\[0\]\.scrapeTimout: field not declared in schema/);
  });
});
