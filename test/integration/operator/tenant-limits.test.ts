// The operator's tenant limits (chart values allowedImagePrefixes / allowedSmarthosts) on a real
// apiserver (the shared test control plane): a QwenService that names another image or another
// SMTP server is refused with Ready=False naming the setting and a Warning Event, and nothing is
// applied for it; once it asks for what is allowed, the operator applies it as usual. And the chart
// values become the flags that `qwen-operator run` reads into those limits.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { apply, get, installCrds, list, waitFor, type KubeObject } from '../../cluster/client.ts';
import { testCluster, testNamespace } from '../../cluster/testing.ts';
import { startOperator, type RunningOperator } from '../../support/operator.ts';
import { toolPath } from '../../support/tools.ts';
import { parseOptions } from '../../../src/commands/command.ts';
import { RUN_OPTIONS, readRunSettings } from '../../../src/commands/run-settings.ts';
import type { Condition, Qws } from '../../support/qws.ts';

const QWS = 'qwenops.io/v1alpha1';
type KubeEvent = KubeObject & { reason: string; type: string; involvedObject: { name: string } };
type Deployment = KubeObject & { spec: { template: { spec: { containers: { image: string }[] } } } };

let ns: string;
let op: RunningOperator;
const qws = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: QWS, kind: 'QwenService', metadata: { name, namespace: ns }, spec: { gpu: { count: 0 }, ...spec } });
const mail = (smarthost: string) => ({ alerting: { receivers: [{ name: 'mail', email: { to: 'oncall@example.com', smarthost, authPassword: { secretKeyRef: { name: 'smtp', key: 'password' } } } }] } });

async function readyCondition(name: string, reason: string): Promise<Condition> {
  return waitFor(`${name} Ready=False/${reason}`, async () => {
    const c = (await get<Qws>(testCluster(), QWS, 'QwenService', name, ns))?.status?.conditions?.find((x) => x.type === 'Ready');
    return c?.status === 'False' && c.reason === reason ? c : undefined;
  }, 60_000, 250);
}

/** Every object in the namespace that carries the QwenService's instance label: what the operator applied for it. */
const childrenOf = async (name: string) => (await Promise.all([
  list(testCluster(), 'apps/v1', 'Deployment', ns), list(testCluster(), 'v1', 'Service', ns), list(testCluster(), 'networking.k8s.io/v1', 'NetworkPolicy', ns),
])).flat().filter((o) => o.metadata.labels?.['app.kubernetes.io/instance'] === name).map((o) => `${o.kind}/${o.metadata.name}`);

beforeAll(async () => {
  await installCrds(testCluster(), [join(import.meta.dirname, '..', '..', '..', 'crds', 'qwenops.io_qwenservices.yaml')]);
  ns = await testNamespace('op-limits');
  // As `qwen-operator run --allowed-image-prefixes registry.example/qwen/ --allowed-smarthosts smtp.example.com:587`.
  op = await startOperator(testCluster().kubeconfigPath, { namespaces: [ns], limits: { allowedImagePrefixes: ['registry.example/qwen/'], allowedSmarthosts: ['smtp.example.com:587'] } });
}, 120_000);

afterAll(async () => {
  await op?.stop();
}, 30_000);

describe('tenant limits on a real apiserver', () => {
  it('refuses an image outside allowedImagePrefixes: Ready=False ImageNotAllowed naming the setting, a Warning Event, nothing applied', async () => {
    await apply(testCluster(), qws('img', { image: 'evil.example/exfiltrate:1', auth: { apiKey: { secretKeyRef: { name: 'keys', key: 'keys' } } } }));
    const c = await readyCondition('img', 'ImageNotAllowed');
    expect(c.message).toMatch(/spec\.image "evil\.example\/exfiltrate:1" is not allowed.*allowedImagePrefixes/);
    await waitFor('Warning Event ImageNotAllowed', async () => (await list<KubeEvent>(testCluster(), 'v1', 'Event', ns)).some((e) => e.involvedObject.name === 'img' && e.reason === 'ImageNotAllowed' && e.type === 'Warning'), 30_000);
    expect(await childrenOf('img')).toEqual([]);
  }, 90_000);

  it('refuses a smarthost outside allowedSmarthosts: Ready=False SmarthostNotAllowed naming the setting, nothing applied', async () => {
    await apply(testCluster(), qws('mail', mail('mx.attacker.example:25')));
    const c = await readyCondition('mail', 'SmarthostNotAllowed');
    expect(c.message).toMatch(/receivers\[0\]\.email\.smarthost "mx\.attacker\.example:25" is not allowed.*allowedSmarthosts/);
    expect(await childrenOf('mail')).toEqual([]);
  }, 90_000);

  it('applies the QwenService once it asks for what is allowed', async () => {
    await apply(testCluster(), qws('img', { image: 'registry.example/qwen/worker:2' }));
    const dep = await waitFor('Deployment img', () => get<Deployment>(testCluster(), 'apps/v1', 'Deployment', 'img', ns), 60_000);
    expect(dep.spec.template.spec.containers[0]!.image).toBe('registry.example/qwen/worker:2');
    await apply(testCluster(), qws('mail', mail('smtp.example.com:587')));
    await waitFor('Deployment mail', () => get<Deployment>(testCluster(), 'apps/v1', 'Deployment', 'mail', ns), 60_000);
  }, 120_000);
});

/** `helm template` of the chart with these --set values: the operator's arguments, or helm's error. */
function chartArgs(set: string[]): Promise<{ args?: string[]; error?: string }> {
  return new Promise((resolve) => {
    execFile(toolPath('helm'), ['template', 'qo', join(import.meta.dirname, '..', '..', '..', 'charts', 'qwen-operator'), ...set.flatMap((v) => ['--set', v])], { maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) return resolve({ error: stderr || err.message });
      const dep = (loadAll(stdout) as Deployment[]).find((o) => o?.kind === 'Deployment')!;
      resolve({ args: (dep.spec.template.spec as unknown as { containers: { args: string[] }[] }).containers[0]!.args });
    });
  });
}

describe('chart values allowedImagePrefixes and allowedSmarthosts', () => {
  it('become the flags `qwen-operator run` reads into the limits; absent by default (no limit)', async () => {
    const { args } = await chartArgs(['allowedImagePrefixes={ghcr.io/qwenops/,registry.example/qwen/}', 'allowedSmarthosts={smtp.example.com:587,mail.example.com}']);
    expect(args).toEqual(expect.arrayContaining(['--allowed-image-prefixes=ghcr.io/qwenops/,registry.example/qwen/', '--allowed-smarthosts=smtp.example.com:587,mail.example.com']));
    const { values } = parseOptions(args!.slice(1), RUN_OPTIONS);
    expect(readRunSettings(values, {}).limits).toEqual({ allowedImagePrefixes: ['ghcr.io/qwenops/', 'registry.example/qwen/'], allowedSmarthosts: ['smtp.example.com:587', 'mail.example.com'] });
    const plain = await chartArgs([]);
    expect(plain.args!.filter((a) => a.startsWith('--allowed-'))).toEqual([]);
  }, 60_000);

  it('refuses a smarthost entry that is not host or host:port (values.schema.json)', async () => {
    expect((await chartArgs(['allowedSmarthosts={smtp://mail.example.com}'])).error).toMatch(/allowedSmarthosts/);
  }, 60_000);
});
