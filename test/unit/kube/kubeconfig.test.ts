import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { dump } from 'js-yaml';
import { fileAuth, inClusterAuth, mergeKubeconfigs } from '../../../src/kube/kubeconfig.ts';

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

  it('merges KUBECONFIG=a:b as kubectl does: the first file to define a name or current-context wins', async () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'b-ca.crt'), 'CA-B');
    const a = join(dir, 'merge-a');
    // No current-context here, and a cluster "shared" that b defines again (a's stays).
    writeFileSync(a, dump({ clusters: [{ name: 'shared', cluster: { server: 'https://a.example:6443', 'certificate-authority': 'ca.crt' } }], users: [{ name: 'ua', user: { token: 'tok-a' } }], contexts: [{ name: 'ctx-a', context: { cluster: 'shared', user: 'ua' } }] }));
    const b = join(sub, 'merge-b');
    writeFileSync(b, dump({
      clusters: [{ name: 'shared', cluster: { server: 'https://b.example:6443' } }, { name: 'only-b', cluster: { server: 'https://only-b.example:6443', 'certificate-authority': 'b-ca.crt' } }],
      users: [{ name: 'ua', user: { token: 'tok-from-b' } }, { name: 'ub', user: { token: 'tok-b' } }],
      contexts: [{ name: 'ctx-b', context: { cluster: 'shared', user: 'ua' } }, { name: 'ctx-only-b', context: { cluster: 'only-b', user: 'ub' } }],
      'current-context': 'ctx-b',
    }));
    const merged = mergeKubeconfigs([a, join(dir, 'missing'), b].join(delimiter));
    expect(merged['current-context']).toBe('ctx-b');
    expect(merged.clusters!.map((c) => [c.name, c.cluster.server])).toEqual([['shared', 'https://a.example:6443'], ['only-b', 'https://only-b.example:6443']]);
    // ctx-b (from b) names cluster "shared" and user "ua": a's definitions, since a came first.
    const auth = fileAuth([a, b].join(delimiter))!;
    expect(auth.getCurrentCluster().server).toBe('https://a.example:6443');
    const o = await applied(auth);
    expect(o.headers).toEqual({ authorization: 'Bearer tok-a' });
    expect(String(o.ca)).toBe('CA');
    // File references are relative to the file that names them.
    writeFileSync(join(dir, 'merge-c'), dump({ 'current-context': 'ctx-only-b' }));
    const c = await applied(fileAuth([join(dir, 'merge-c'), a, b].join(delimiter))!);
    expect([String(c.ca), c.headers]).toEqual(['CA-B', { authorization: 'Bearer tok-b' }]);
    expect(() => fileAuth([join(dir, 'none-1'), join(dir, 'none-2')].join(delimiter))).toThrow(/none of these kubeconfig files exists/);
  });

  it('builds the in-cluster connection from the service account mount', async () => {
    writeFileSync(join(dir, 'token'), 'sa-token');
    const auth = inClusterAuth({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(auth.getCurrentCluster().server).toBe('https://10.0.0.1:443');
    expect((await applied(auth)).headers).toEqual({ authorization: 'Bearer sa-token' });
    expect(() => inClusterAuth({}, dir)).toThrow(/not running in a cluster/);
  });
});
