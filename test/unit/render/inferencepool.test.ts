// The workers' InferencePool (inference.networking.k8s.io/v1): rendered only where the cluster
// serves the CRD, selecting exactly the worker pods on their HTTP port. The apiserver's schema
// check is test/integration/cluster/inference-pool-crd.test.ts.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig, resolvePlan } from '../../../src/plan/index.ts';
import { INFERENCE_POOL_KEY, OPTIONAL_KIND_KEYS } from '../../../src/plan/kinds.ts';
import { renderPlanned } from '../../../src/render/index.ts';
import { renderInferencePool } from '../../../src/render/inferencepool.ts';

const qs = parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' },
  spec: { model: { source: 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M' }, replicas: 2 },
});
const everything = resolvePlan(qs, defaultRenderConfig, OPTIONAL_KIND_KEYS);
const without = resolvePlan(qs, defaultRenderConfig, new Set([...OPTIONAL_KIND_KEYS].filter((k) => k !== INFERENCE_POOL_KEY)));

describe('InferencePool', () => {
  it('selects the worker pods by their template\'s labels and targets their HTTP port', () => {
    const [pool] = renderInferencePool(everything);
    const deployment = renderPlanned(everything).objects.find((o) => o.kind === 'Deployment')!;
    const template = (deployment.spec as { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } }).template;
    const spec = pool!.spec as { selector: { matchLabels: Record<string, string> }; targetPorts: { number: number }[] };
    expect(pool).toMatchObject({ apiVersion: 'inference.networking.k8s.io/v1', kind: 'InferencePool', metadata: { name: 'chat', namespace: 'team-a' } });
    expect(template.metadata.labels).toMatchObject(spec.selector.matchLabels);
    expect(spec.selector.matchLabels['app.kubernetes.io/component']).toBe('worker');
    expect(spec.targetPorts).toEqual([{ number: template.spec.containers[0]!.ports.find((p) => p.name === 'http')!.containerPort }]);
    expect(pool!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'QwenService', name: 'chat', controller: true });
  });

  it('is one of the owned objects where its CRD is served, and neither rendered nor missing where it is not', () => {
    expect(renderPlanned(everything).objects.filter((o) => o.kind === 'InferencePool')).toHaveLength(1);
    const bare = renderPlanned(without);
    expect([...bare.objects, ...bare.unserved].filter((o) => o.kind === 'InferencePool')).toEqual([]);
  });
});
