import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { dump } from 'js-yaml';
import { fileAuth, inClusterAuth } from '../../../src/kube/kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'qwen-kc-'));
writeFileSync(join(dir, 'ca.crt'), 'CA');
writeFileSync(join(dir, 'token'), 'tok-1\n');

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://127.0.0.1:6443', 'certificate-authority': 'ca.crt' }): string {
  const path = join(dir, `kc-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, dump({ clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }));
  return path;
}

const applied = async (auth: { applyToHTTPSOptions(o: RequestOptions): Promise<void> }) => {
  const o: RequestOptions = {};
  await auth.applyToHTTPSOptions(o);
  return o;
};

describe('kubeconfig', () => {
  it('reads certificate files relative to the kubeconfig, and inline data', async () => {
    const auth = fileAuth(kubeconfig({ 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key': 'ca.crt' }))!;
    expect(auth.getCurrentCluster()).toEqual({ server: 'https://127.0.0.1:6443' });
    const o = await applied(auth);
    expect([String(o.ca), String(o.cert), String(o.key)]).toEqual(['CA', 'CERT', 'CA']);
  });

  it('sends a bearer token, re-reading a token file each time (rotation)', async () => {
    const auth = fileAuth(kubeconfig({ tokenFile: 'token' }))!;
    expect((await applied(auth)).headers).toEqual({ authorization: 'Bearer tok-1' });
    writeFileSync(join(dir, 'token'), 'tok-2');
    expect((await applied(auth)).headers).toEqual({ authorization: 'Bearer tok-2' });
  });

  it('leaves credential plugins to client-node', () => {
    expect(fileAuth(kubeconfig({ exec: { command: 'aws' } }))).toBeUndefined();
  });

  it('says which context is missing', () => {
    const path = join(dir, 'broken');
    writeFileSync(path, dump({ 'current-context': 'nope', contexts: [] }));
    expect(() => fileAuth(path)).toThrow(/current-context "nope" not found/);
  });

  it('builds the in-cluster connection from the service account mount', async () => {
    writeFileSync(join(dir, 'token'), 'sa-token');
    const auth = inClusterAuth({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(auth.getCurrentCluster().server).toBe('https://10.0.0.1:443');
    expect((await applied(auth)).headers).toEqual({ authorization: 'Bearer sa-token' });
    expect(() => inClusterAuth({}, dir)).toThrow(/not running in a cluster/);
  });
});
