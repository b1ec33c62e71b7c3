// The aggregation layer for a test control plane: front-proxy (requestheader) certificates for the
// apiserver, and a way to reach an extension apiserver (KEDA's metrics adapter) through an
// APIService. The trap: an APIService resolves to the endpoints of a Service, endpoints may not be
// loopback addresses, and there is no kube-proxy for ClusterIPs. So the extension apiserver runs in
// a network namespace this file creates, on an address of a veth pair of our own; the apiserver
// (with --enable-aggregator-routing) dials that address directly. Traffic the other way (the
// adapter calling the apiserver and KEDA's operator on loopback) crosses through unix sockets, so
// nothing but the namespace's own address and loopback is ever dialled. Needs root (ip netns).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { apply, kubeCall, waitFor, type ClusterInfo, type KubeObject } from './client.ts';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A front-proxy CA and its client certificate (CN front-proxy-client), and the apiserver flags that
 * make the apiserver present it to extension apiservers, which trust the CA through the
 * kube-system/extension-apiserver-authentication ConfigMap the apiserver then publishes.
 */
export function frontProxyArgs(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'front-proxy-ca.key', '-out', 'front-proxy-ca.crt', '-days', '30', '-subj', '/CN=qwen-front-proxy-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
  openssl(['genrsa', '-out', 'front-proxy-client.key', '2048'], dir);
  openssl(['req', '-new', '-key', 'front-proxy-client.key', '-subj', '/CN=front-proxy-client', '-out', 'front-proxy-client.csr'], dir);
  writeFileSync(join(dir, 'front-proxy-client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', 'front-proxy-client.csr', '-CA', 'front-proxy-ca.crt', '-CAkey', 'front-proxy-ca.key', '-CAcreateserial', '-days', '30', '-sha256',
    '-extfile', 'front-proxy-client.ext', '-out', 'front-proxy-client.crt'], dir);
  return [
    `--requestheader-client-ca-file=${join(dir, 'front-proxy-ca.crt')}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${join(dir, 'front-proxy-client.crt')}`,
    `--proxy-client-key-file=${join(dir, 'front-proxy-client.key')}`,
    // Dial the endpoint of the APIService's Service, not its ClusterIP (no kube-proxy here).
    '--enable-aggregator-routing=true',
  ];
}

export type Netns = {
  name: string;
  /** The namespace side of the veth pair: where its servers listen, what endpoints point at. */
  address: string;
  /** Spawns a command inside the namespace. */
  spawn(bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv; log: string; cwd?: string }): ChildProcess;
  /** Serves `127.0.0.1:<nsPort>` inside the namespace by loopback `127.0.0.1:<port>` outside it (through a unix socket). */
  forward(forwards: { nsPort: number; port: number }[]): Promise<void>;
  close(): Promise<void>;
};

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * A network namespace with one veth pair: `<prefix>.1` outside (never dialled), `<prefix>.2`
 * inside. The prefix is a /30 of 10.213.0.0/16 that no interface uses yet.
 */
export async function createNetns(tag: string, dir: string): Promise<Netns> {
  if (process.getuid?.() !== 0) throw new Error('the aggregation layer test needs root: it creates a network namespace (ip netns add) for the extension apiserver');
  mkdirSync(dir, { recursive: true });
  const name = `qwen-${tag}-${process.pid % 100000}`.slice(0, 15);
  const host = `qh${process.pid % 100000}`.slice(0, 15), peer = `qn${process.pid % 100000}`.slice(0, 15);
  const used = execFileSync('ip', ['-o', '-4', 'addr'], { encoding: 'utf8' });
  let third = 0;
  while (used.includes(`10.213.${third}.`)) third++;
  const [outside, inside] = [`10.213.${third}.1`, `10.213.${third}.2`];
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try { ip('netns', 'del', name); } catch { /* gone */ }
    try { ip('link', 'del', host); } catch { /* went with the namespace */ }
  };
  process.once('exit', cleanup);
  try {
    cleanup();
    ip('netns', 'add', name);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', name);
    ip('addr', 'add', `${outside}/30`, 'dev', host);
    ip('link', 'set', host, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${inside}/30`, 'dev', peer);
    ip('netns', 'exec', name, 'ip', 'link', 'set', peer, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (e) {
    cleanup();
    throw new Error(`could not create network namespace ${name}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  const ns: Netns = {
    name,
    address: inside,
    spawn(bin, args, o) {
      const fd = openSync(o.log, 'a');
      const child = spawn('ip', ['netns', 'exec', name, bin, ...args], { stdio: ['ignore', fd, fd], env: o.env ?? process.env, cwd: o.cwd });
      closeSync(fd);
      children.push(child);
      return child;
    },
    async forward(forwards) {
      const pairs: string[] = [];
      for (const f of forwards) {
        const sock = join(dir, `fwd-${f.nsPort}.sock`);
        rmSync(sock, { force: true });
        const srv = createServer((c) => {
          const up = createConnection({ host: '127.0.0.1', port: f.port });
          c.pipe(up).pipe(c);
          c.on('error', () => up.destroy());
          up.on('error', () => c.destroy());
        });
        await new Promise<void>((r) => srv.listen(sock, r));
        servers.push(srv);
        pairs.push(`${f.nsPort}=${sock}`);
      }
      // Inside: a tiny forwarder on the namespace's loopback, to the unix sockets.
      const script = `
        const net = require('node:net');
        for (const p of process.argv.slice(1)) {
          const [port, sock] = p.split('=');
          net.createServer((c) => { const u = net.createConnection(sock); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
            .listen(Number(port), '127.0.0.1', () => console.log('listening ' + port));
        }`;
      const log = join(dir, 'netns-forwarder.log');
      const child = ns.spawn(process.execPath, ['-e', script, ...pairs], { log });
      await waitFor('netns forwarder', () => {
        if (child.exitCode !== null) throw new Error(`netns forwarder exited; see ${log}`);
        const out = execFileSync('cat', [log], { encoding: 'utf8' });
        return forwards.every((f) => out.includes(`listening ${f.nsPort}`));
      }, 30_000, 200);
    },
    async close() {
      for (const s of servers) s.close();
      cleanup();
      process.removeListener('exit', cleanup);
    },
  };
  return ns;
}

export const EXTERNAL_METRICS_API = 'v1beta1.external.metrics.k8s.io';

/**
 * Registers external.metrics.k8s.io at `address:port`: a selector-less Service, its Endpoints and
 * EndpointSlice by hand (no pod, no endpoint controller), and the APIService; waits until the
 * apiserver reports the APIService Available (its discovery answered through the proxy).
 */
export async function registerExternalMetrics(info: ClusterInfo, namespace: string, address: string, port: number): Promise<KubeObject> {
  const name = 'keda-operator-metrics-apiserver';
  await apply(info, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'https', port: 443, targetPort: port, protocol: 'TCP' }] } });
  await apply(info, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace }, subsets: [{ addresses: [{ ip: address }], ports: [{ name: 'https', port, protocol: 'TCP' }] }] });
  await apply(info, {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${name}-manual`, namespace, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'qwen-test' } },
    addressType: 'IPv4', endpoints: [{ addresses: [address], conditions: { ready: true } }], ports: [{ name: 'https', port, protocol: 'TCP' }],
  });
  await apply(info, {
    apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: EXTERNAL_METRICS_API },
    // The adapter's serving certificate is self-made for the test; the aggregator's own client
    // certificate (front proxy) is what the adapter checks.
    spec: { service: { name, namespace, port: 443 }, group: 'external.metrics.k8s.io', version: 'v1beta1', insecureSkipTLSVerify: true, groupPriorityMinimum: 100, versionPriority: 100 },
  });
  return waitFor(`APIService ${EXTERNAL_METRICS_API} Available`, async () => {
    const a = await kubeCall(info, 'GET', `/apis/apiregistration.k8s.io/v1/apiservices/${EXTERNAL_METRICS_API}`) as KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
    return a.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ? a : undefined;
  }, 90_000, 500);
}
