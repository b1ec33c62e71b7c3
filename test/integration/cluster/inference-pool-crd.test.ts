// The Gateway API Inference Extension's real CRDs (config/crd/bases of the pinned Go module,
// test/tools/fetch-inference-crds.sh) on the real apiserver: the InferencePool the operator renders
// is accepted as it would apply it (server-side apply, fieldValidation=Strict, dry run), and the
// CRD's own rules (CEL, required fields) still bite, so an acceptance means something.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { cacheDir } from '../../support/tools.ts';
import { apply, installCrds, KubeError, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig, resolvePlan } from '../../../src/plan/index.ts';
import { renderPlanned } from '../../../src/render/index.ts';

const crdDir = join(cacheDir, 'inference-crds');
let ns: string;
let pool: KubeObject;

beforeAll(async () => {
  await installCrds(testCluster(), [crdDir]);
  ns = await testNamespace('infpool');
  const qs = parseQwenService({
    apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: ns, uid: '6f1e7a40-0000-4000-8000-000000000001' },
    spec: { model: { source: 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M' }, replicas: 2 },
  });
  pool = renderPlanned(resolvePlan(qs, defaultRenderConfig)).objects.find((o) => o.kind === 'InferencePool')!;
}, 120_000);

// The owner does not exist in this namespace: a dry run checks the object, not garbage collection.
const withoutOwner = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, ownerReferences: [] } });

describe('InferencePool (inference.networking.k8s.io/v1, gateway-api-inference-extension v1.6.2)', () => {
  test('the rendered pool is accepted by server-side apply with fieldValidation=Strict', async () => {
    const applied = await apply<KubeObject & { spec: unknown }>(testCluster(), withoutOwner(pool), { fieldValidation: 'Strict', fieldManager: 'qwen-operator', dryRun: true });
    expect(applied.metadata.name).toBe('chat');
    // The apiserver's defaults fill in around ours; what we sent is kept as sent.
    expect(applied.spec).toMatchObject(pool.spec as object);
  });

  test('the CRD rejects a pool without target ports and one with a repeated port', async () => {
    const spec = pool.spec as Record<string, unknown>;
    const noPorts = apply(testCluster(), withoutOwner({ ...pool, spec: { selector: spec.selector } }), { dryRun: true }).then(() => undefined, (e: unknown) => e);
    expect(await noPorts).toBeInstanceOf(KubeError);
    const repeated = await apply(testCluster(), withoutOwner({ ...pool, spec: { ...spec, targetPorts: [{ number: 8080 }, { number: 8080 }] } }), { dryRun: true }).then(() => undefined, (e: unknown) => e);
    expect((repeated as KubeError).message).toMatch(/port number must be unique/);
  });
});
