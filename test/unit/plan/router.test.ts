// What spec.router resolves to (src/plan/router.ts): the API's defaults (the router contract's),
// durations in seconds, the configured image unless overridden, and the names every renderer and
// KEDA's scaler address use.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig } from '../../../src/render/common.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { ROUTER_DEFAULT } from '../../../router/src/contract.ts';

const qws = (spec: Record<string, unknown>) => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec });
const config = { ...defaultRenderConfig, routerImage: 'qwen-router:configured' };

describe('the router plan', () => {
  it('is absent without spec.router', () => {
    expect(resolvePlan(qws({}), config).router).toBeUndefined();
  });

  it('takes the router contract\'s defaults, the configured image and the names of its objects', () => {
    expect(resolvePlan(qws({ router: {} }), config).router).toEqual({
      replicas: ROUTER_DEFAULT.replicas, affinity: ROUTER_DEFAULT.affinity, holdTimeoutSeconds: ROUTER_DEFAULT.holdTimeoutSeconds, maxHeld: ROUTER_DEFAULT.maxHeld,
      image: 'qwen-router:configured', name: 'chat-router', workersService: 'chat-workers',
      scalerAddress: `chat-router.team-a.svc.cluster.local:${ROUTER_DEFAULT.scalerPort}`,
      scalerReady: true,
    });
  });

  it('reads the spec\'s values, durations in seconds', () => {
    expect(resolvePlan(qws({ router: { replicas: 3, affinity: 'None', holdTimeout: '1h', maxHeld: 9, image: 'r:2' } }), config).router).toMatchObject({
      replicas: 3, affinity: 'None', holdTimeoutSeconds: 3600, maxHeld: 9, image: 'r:2',
    });
  });

  it('scaleToZeroAfter resolves to whole seconds (KEDA\'s cooldownPeriod), 15m by default', () => {
    expect(resolvePlan(qws({ router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2 } }), config).scaling?.scaleToZeroAfterSeconds).toBe(900);
    expect(resolvePlan(qws({ router: {}, autoscaling: { minReplicas: 0, maxReplicas: 2, scaleToZeroAfter: '1500ms' } }), config).scaling?.scaleToZeroAfterSeconds).toBe(2);
  });
});
