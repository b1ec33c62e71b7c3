// The operator's tenant limits (chart values allowedImagePrefixes / allowedSmarthosts): what a
// QwenService may name as its image and as its SMTP server. The reconciler's use of them (nothing
// applied, the condition) runs on a real apiserver in test/integration/operator/tenant-limits.test.ts.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { readRunSettings } from '../../../src/commands/run-settings.ts';
import { NO_TENANT_LIMITS, checkTenantLimits, imageAllowed, smarthostAllowed } from '../../../src/controller/tenant-limits.ts';

const WORKER_IMAGE = 'ghcr.io/qwenops/qwen-worker:0.1.0-cuda';
const qws = (spec: Record<string, unknown>) => parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a' }, spec });
const mail = (smarthost?: string) => ({ name: `m${smarthost?.length ?? 0}`, email: { to: 'oncall@example.com', ...(smarthost ? { smarthost } : {}) } });

describe('image prefixes', () => {
  it.each([
    ['ghcr.io/qwenops/', 'ghcr.io/qwenops/qwen-worker:1', true],
    ['ghcr.io/qwenops', 'ghcr.io/qwenops/qwen-worker:1', true],
    ['ghcr.io/qwenops/qwen-worker', 'ghcr.io/qwenops/qwen-worker:1', true],
    ['ghcr.io/qwenops/qwen-worker', 'ghcr.io/qwenops/qwen-worker@sha256:ab', true],
    ['ghcr.io/qwenops/qwen-worker', 'ghcr.io/qwenops/qwen-worker', true],
    // A prefix ends at a boundary: a look-alike registry or repository is another one.
    ['ghcr.io/qwenops', 'ghcr.io/qwenops-evil/x:1', false],
    ['ghcr.io/qwenops/qwen-worker', 'ghcr.io/qwenops/qwen-worker-evil:1', false],
    ['registry.example', 'registry.example.evil.io/x', false],
    ['ghcr.io/qwenops/', 'docker.io/ghcr.io/qwenops/x', false],
  ] as const)('prefix %s, image %s: %s', (prefix, image, allowed) => {
    expect(imageAllowed(image, prefix)).toBe(allowed);
  });

  it('refuses another image with ImageNotAllowed, naming the setting; the operator\'s own image and an absent spec.image pass', () => {
    const limits = { ...NO_TENANT_LIMITS, allowedImagePrefixes: ['registry.example/qwen/'] };
    expect(checkTenantLimits(qws({ image: 'evil.example/x:1' }), limits, WORKER_IMAGE)).toEqual([{
      reason: 'ImageNotAllowed',
      message: expect.stringMatching(/^spec\.image "evil\.example\/x:1" is not allowed: images must start with registry\.example\/qwen\/ \(chart value allowedImagePrefixes, flag --allowed-image-prefixes\)/),
    }]);
    expect(checkTenantLimits(qws({ image: 'registry.example/qwen/worker:2' }), limits, WORKER_IMAGE)).toEqual([]);
    expect(checkTenantLimits(qws({ image: WORKER_IMAGE }), limits, WORKER_IMAGE)).toEqual([]);
    expect(checkTenantLimits(qws({}), limits, WORKER_IMAGE)).toEqual([]);
  });

  it('holds spec.router.image to the same prefixes; the operator\'s router image passes', () => {
    const limits = { ...NO_TENANT_LIMITS, allowedImagePrefixes: ['registry.example/qwen/'] };
    const ROUTER_IMAGE = 'ghcr.io/qwenops/qwen-router:0.1.0';
    expect(checkTenantLimits(qws({ router: { image: 'evil.example/r:1' } }), limits, WORKER_IMAGE, ROUTER_IMAGE)).toEqual([{
      reason: 'ImageNotAllowed',
      message: expect.stringMatching(/^spec\.router\.image "evil\.example\/r:1" is not allowed: .*, or be the operator's router image ghcr\.io\/qwenops\/qwen-router:0\.1\.0$/),
    }]);
    expect(checkTenantLimits(qws({ router: { image: 'registry.example/qwen/router:2' } }), limits, WORKER_IMAGE, ROUTER_IMAGE)).toEqual([]);
    expect(checkTenantLimits(qws({ router: { image: ROUTER_IMAGE } }), limits, WORKER_IMAGE, ROUTER_IMAGE)).toEqual([]);
    expect(checkTenantLimits(qws({ router: {} }), limits, WORKER_IMAGE, ROUTER_IMAGE)).toEqual([]);
  });
});

describe('smarthosts', () => {
  it.each([
    ['smtp.example.com', 'smtp.example.com:587', true],
    ['SMTP.example.com', 'smtp.Example.com:25', true],
    ['smtp.example.com:587', 'smtp.example.com:587', true],
    ['smtp.example.com:587', 'smtp.example.com:25', false],
    ['smtp.example.com', 'smtp.example.com.evil.io:587', false],
    ['[2001:db8::1]', '[2001:db8::1]:25', true],
    ['[2001:db8::1]:25', '[2001:db8::1]:587', false],
  ] as const)('allowed %s, smarthost %s: %s', (allowed, smarthost, ok) => {
    expect(smarthostAllowed(smarthost, allowed)).toBe(ok);
  });

  it('refuses each receiver with another smarthost (SmarthostNotAllowed, naming the setting); no smarthost is Alertmanager\'s own and passes', () => {
    const limits = { ...NO_TENANT_LIMITS, allowedSmarthosts: ['smtp.example.com:587'] };
    const qs = qws({ alerting: { receivers: [mail('smtp.example.com:587'), mail('mx.attacker.example:25'), mail()] } });
    expect(checkTenantLimits(qs, limits, WORKER_IMAGE)).toEqual([{
      reason: 'SmarthostNotAllowed',
      message: expect.stringMatching(/^spec\.alerting\.receivers\[1\]\.email\.smarthost "mx\.attacker\.example:25" is not allowed: smarthosts must be smtp\.example\.com:587 \(chart value allowedSmarthosts, flag --allowed-smarthosts\)/),
    }]);
  });

  it('limits nothing when the lists are empty (as before the settings existed)', () => {
    const qs = qws({ image: 'anything.example/x:1', alerting: { receivers: [mail('mx.anywhere.example:25')] } });
    expect(checkTenantLimits(qs, NO_TENANT_LIMITS, WORKER_IMAGE)).toEqual([]);
  });
});

describe('run flags', () => {
  it('reads --allowed-image-prefixes and --allowed-smarthosts (or their environment variables); empty by default', () => {
    expect(readRunSettings({}, {}).limits).toEqual(NO_TENANT_LIMITS);
    expect(readRunSettings({ 'allowed-image-prefixes': 'ghcr.io/qwenops/, registry.example/qwen/', 'allowed-smarthosts': 'smtp.example.com:587,[2001:db8::1]' }, {}).limits)
      .toEqual({ allowedImagePrefixes: ['ghcr.io/qwenops/', 'registry.example/qwen/'], allowedSmarthosts: ['smtp.example.com:587', '[2001:db8::1]'] });
    expect(readRunSettings({}, { ALLOWED_IMAGE_PREFIXES: 'a.example/', ALLOWED_SMARTHOSTS: 'smtp.example.com' }).limits)
      .toEqual({ allowedImagePrefixes: ['a.example/'], allowedSmarthosts: ['smtp.example.com'] });
  });

  it('refuses entries that could never match, before anything connects', () => {
    expect(() => readRunSettings({ 'allowed-smarthosts': 'smtp://mail.example.com' }, {})).toThrow(/--allowed-smarthosts: "smtp:\/\/mail.example.com" is not host or host:port/);
    expect(() => readRunSettings({ 'allowed-image-prefixes': 'ghcr.io/q wen' }, {})).toThrow(/--allowed-image-prefixes/);
  });
});
