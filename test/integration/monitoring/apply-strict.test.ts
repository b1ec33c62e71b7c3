// The monitoring objects `render` produces apply with fieldValidation=Strict (and server-side
// apply) against the real prometheus-operator CRDs: a field name the CRDs lack fails here.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { cacheDir } from '../../support/tools.ts';
import { apply, create, installCrds, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { renderMonitoring } from '../../../src/render/monitoring.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

let ns: string;

beforeAll(async () => {
  await installCrds(testCluster(), [join(cacheDir, 'prometheus-operator-crds')]);
  ns = await testNamespace('monitoring');
}, 120_000);

function objects(): KubeObject[] {
  const qs = parseQwenService({
    apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: ns },
    spec: {
      sla: { latency: { p95: '3s', p99: '5s' }, timeToFirstToken: { p95: '800ms' }, outputTokensPerSecond: { min: 20 }, errorRate: '0.1%', availability: '99.5%' },
      monitoring: { serviceMonitor: { labels: { release: 'kube-prometheus-stack' } }, ruleLabels: { release: 'kube-prometheus-stack' } },
      alerting: {
        receivers: [
          { name: 'oncall', slack: { channel: '#x', apiURL: { secretKeyRef: { name: 'slack', key: 'url' } } } },
          { name: 'mail', email: { to: 'a@example.com', authUsername: 'u', authPassword: { secretKeyRef: { name: 'smtp', key: 'pw' } } } },
          { name: 'hook', webhook: { url: { secretKeyRef: { name: 'hook', key: 'url' } } } },
          { name: 'pd', pagerduty: { routingKey: { secretKeyRef: { name: 'pd', key: 'key' } } } },
        ],
        routes: { critical: ['oncall', 'pd'], warning: ['mail', 'hook'] },
      },
    },
  });
  // With a router the ServiceMonitor also scrapes the router and relabels `service` (its own name).
  const routed = parseQwenService({ ...qs, metadata: { name: 'routed', namespace: ns }, spec: { ...qs.spec, router: {} } });
  const routedMonitor = renderMonitoring(resolvePlan(routed, defaultRenderConfig)).filter((o) => o.kind === 'ServiceMonitor');
  // No QwenService exists in this test: drop the owner reference (its uid would be empty).
  return [...renderMonitoring(resolvePlan(qs, defaultRenderConfig)), ...routedMonitor].map((o) => ({ ...o, metadata: { ...o.metadata, ownerReferences: undefined } }) as KubeObject);
}

describe('monitoring objects on the real prometheus-operator CRDs', () => {
  test('create with fieldValidation=Strict', async () => {
    for (const o of objects()) {
      await expect(create(testCluster(), o, 'Strict')).resolves.toBeTruthy();
    }
  }, 60_000);

  test('server-side apply (as the operator does) with fieldValidation=Strict', async () => {
    for (const o of objects()) {
      const applied = await apply<KubeObject>(testCluster(), o, { fieldValidation: 'Strict' });
      expect(applied.metadata.name).toBe(o.metadata.name);
    }
  }, 60_000);
});
