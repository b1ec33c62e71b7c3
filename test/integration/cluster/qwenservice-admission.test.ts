// The other half of the admission table (qwenservice-crd.test.ts replays the bad documents): the
// values at the edges of each grammar that `validate` accepts are accepted by the real apiserver
// too (OpenAPI patterns run as Go RE2, CEL rules within their cost limits), so the two layers agree
// on both sides of every rule. And the grammars themselves are the real ones: for each value, the
// QwenService schema accepts it exactly when the apiserver's own validation of the object it ends
// up in (a Pod's resources and emptyDir sizeLimit; the Secret it names, which the Pod's volume does
// not check: a name no Secret can have leaves the pod stuck; a label; a NetworkPolicy ipBlock)
// accepts it, checked with server-side dry runs.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { create, installCrds, kubeRequest, resourcePath, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { documentOf, validSpecs } from '../../fixtures/invalid-qwenservices.ts';
import { validateYaml } from '../../../src/api/validate.ts';
import { dump } from 'js-yaml';

const crdFile = process.env.QWEN_QWS_CRD ?? join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml');
let ns: string;

beforeAll(async () => {
  await installCrds(testCluster(), [crdFile]);
  ns = await testNamespace('qws-admission');
}, 60_000);

describe('QwenService admission accepts what validate accepts', () => {
  test.each(validSpecs.map((c, i) => [c.name, i] as const))('accepts: %s', async (_name, i) => {
    const c = validSpecs[i]!;
    const doc = documentOf({ name: c.name, spec: c.spec, field: '', says: /./ });
    const [offline] = validateYaml(dump(doc));
    expect(offline!.ok ? [] : offline!.problems).toEqual([]);
    const created = await create<KubeObject>(testCluster(), { ...doc, metadata: { name: `ok-${i}`, namespace: ns } } as KubeObject, 'Strict');
    expect(created.metadata.uid).toBeTruthy();
  });
});

/** Whether the apiserver would create the object (dry run: validation and admission, nothing stored). */
async function apiserverAccepts(obj: KubeObject): Promise<boolean> {
  const path = await resourcePath(testCluster(), obj.apiVersion, obj.kind, ns);
  const res = await kubeRequest(testCluster(), 'POST', path, obj, { query: { dryRun: 'All', fieldValidation: 'Strict' } });
  // 422: invalid; 400: not even decodable (a string that is no quantity at all).
  if (![201, 400, 422].includes(res.status)) throw new Error(`unexpected ${res.status}: ${res.text.slice(0, 300)}`);
  return res.status === 201;
}

function schemaAccepts(spec: Record<string, unknown>): boolean {
  const [r] = validateYaml(dump(documentOf({ name: 'x', spec, field: '', says: /./ })));
  return r!.ok;
}

const pod = (name: string, podSpec: Record<string, unknown>, container: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'c', image: 'x', ...container }], ...podSpec },
});

describe('the schema\'s grammars are the apiserver\'s', () => {
  test.each(['10Gi', '1.5', '100m', '1e3', '1E3', '.5', '5.', '+1', '8G', '2k', '1Ei', '500u',
    '10 GB', '1.2.3', '2K', '1e1.5', '-1', '1ki', 'one'])('quantity %j', async (q) => {
    const k8s = await apiserverAccepts(pod('q', {}, { resources: { requests: { memory: q } } }));
    expect([q, schemaAccepts({ resources: { requests: { memory: q } } })]).toEqual([q, k8s]);
    const size = await apiserverAccepts(pod('s', { volumes: [{ name: 'v', emptyDir: { sizeLimit: q } }] }));
    expect([q, schemaAccepts({ modelCache: { sizeLimit: q } })]).toEqual([q, size]);
  });

  // ParseQuantity reads a suffix without digits ("Gi") as a number; the schema asks for digits.
  test('quantity "Gi": the schema is stricter than the parser, which takes a suffix alone', async () => {
    expect(await apiserverAccepts(pod('q', {}, { resources: { requests: { memory: 'Gi' } } }))).toBe(true);
    expect(schemaAccepts({ resources: { requests: { memory: 'Gi' } } })).toBe(false);
  });

  test.each(['NVIDIA-L4', 'NVIDIA-H100-80GB_HBM3', 'a.b', 'x'.repeat(63), 'NVIDIA L4', '-x', 'x-', 'x'.repeat(64), 'a/b', 'ü'])('label value %j', async (v) => {
    const k8s = await apiserverAccepts({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'l', namespace: ns, labels: { 'nvidia.com/gpu.product': v } } });
    expect([v, schemaAccepts({ gpu: { product: v } })]).toEqual([v, k8s]);
  });

  test.each([['keys', 'keys'], ['chat.api-keys', '.keys_v2'], ['API_Keys', 'keys'], ['keys', '../keys'], ['keys', '..keys'], ['keys', '.'], ['-keys', 'k'], ['keys', 'a b']] as const)(
    'Secret %j key %j', async (name, key) => {
      const k8s = await apiserverAccepts({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: { [key]: 'k' } });
      expect([name, key, schemaAccepts({ auth: { apiKey: { secretKeyRef: { name, key } } } })]).toEqual([name, key, k8s]);
    });

  test.each(['10.0.0.0/8', '192.168.10.0/24', '0.0.0.0/0', 'fd00::/8', '10.0.0.0', '10.0.0.0/33', '256.0.0.0/8', 'x/8'])('CIDR %j', async (cidr) => {
    const k8s = await apiserverAccepts({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'n', namespace: ns }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr } }] }] } });
    expect([cidr, schemaAccepts({ network: { allowFrom: [{ ipBlock: { cidr } }] } })]).toEqual([cidr, k8s]);
  });
});
