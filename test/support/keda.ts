// KEDA v2 (built from its Go module by test/tools/build-keda.sh) against a test control plane:
// its operator on loopback (it reconciles ScaledObjects into HPAs and runs the Prometheus scaler)
// and its metrics adapter (the extension apiserver behind external.metrics.k8s.io) inside a
// network namespace, registered through the aggregation layer (see test/cluster/aggregation.ts).
// The two talk gRPC with mutual TLS, as in a KEDA install; the certificates are made here.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../cluster/cluster.ts';
import { createNetns, registerExternalMetrics, type Netns } from '../cluster/aggregation.ts';
import { newNamespace, apply, waitFor, type ClusterInfo } from '../cluster/client.ts';
import { cacheDir, toolPath } from './tools.ts';
import { startLogged, stopChild } from './child.ts';

export const KEDA_CRDS = join(cacheDir, 'keda-crds');
export const KEDA_NAMESPACE = 'keda';
const ADAPTER_PORT = 6443;

export type Keda = { operatorLog: string; adapterLog: string; netns: Netns; stop(): Promise<void> };

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** ca.crt, tls.crt, tls.key: one certificate for both ends of the operator <-> adapter gRPC (as KEDA's own cert rotation makes). */
function kedaCerts(dir: string, adapterAddress: string): void {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/O=KEDAORG/CN=KEDA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
  openssl(['genrsa', '-out', 'tls.key', '2048'], dir);
  openssl(['req', '-new', '-key', 'tls.key', '-subj', '/CN=keda-operator', '-out', 'tls.csr'], dir);
  writeFileSync(join(dir, 'tls.ext'), [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=IP:127.0.0.1,IP:${adapterAddress},DNS:localhost,DNS:keda-operator.keda.svc,DNS:keda-operator.keda.svc.cluster.local,DNS:keda-operator-metrics-apiserver.keda.svc`, '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-sha256', '-extfile', 'tls.ext', '-out', 'tls.crt'], dir);
}

/** The cluster's kubeconfig with another server address (the adapter dials the apiserver through the namespace's loopback). */
function kubeconfigFor(info: ClusterInfo, server: string, path: string): string {
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: c', '  cluster:', `    server: ${server}`, `    certificate-authority: ${info.caFile}`,
    'users:', '- name: u', '  user:', `    client-certificate: ${info.certFile}`, `    client-key: ${info.keyFile}`,
    'contexts:', '- name: c', '  context:', '    cluster: c', '    user: u', 'current-context: c', '',
  ].join('\n'));
  return path;
}

/**
 * Starts KEDA's operator and metrics adapter for `info` (whose apiserver runs with
 * frontProxyArgs()) and registers the adapter as external.metrics.k8s.io. Everything it started
 * is stopped by stop(), also when start-up fails.
 */
export async function startKeda(info: ClusterInfo, dir: string): Promise<Keda> {
  for (const t of ['keda', 'keda-adapter']) if (!existsSync(toolPath(t))) throw new Error(`${toolPath(t)} missing: run test/tools/build-keda.sh`);
  mkdirSync(dir, { recursive: true });
  const netns = await createNetns('keda', join(dir, 'netns'));
  let operator: ChildProcess | undefined, adapter: ChildProcess | undefined;
  const stop = async () => { await stopChild(adapter); await stopChild(operator); await netns.close(); };
  try {
    const certs = join(dir, 'certs');
    kedaCerts(certs, netns.address);
    // --ca-dir reads every file in it as a CA bundle: give it the CA alone (the scalers' TLS trust).
    const caDir = join(dir, 'ca');
    mkdirSync(caDir, { recursive: true });
    copyFileSync(join(certs, 'ca.crt'), join(caDir, 'ca.crt'));
    await newNamespace(info, KEDA_NAMESPACE).catch(() => undefined);
    await apply(info, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: KEDA_NAMESPACE } });
    const env = { ...process.env, KUBECONFIG: info.kubeconfigPath, WATCH_NAMESPACE: '', KEDA_CLUSTER_OBJECT_NAMESPACE: KEDA_NAMESPACE, POD_NAMESPACE: KEDA_NAMESPACE, POD_NAME: 'keda-operator-test' };
    const grpcPort = await freePort();
    const operatorLog = join(dir, 'keda-operator.log');
    operator = startLogged(toolPath('keda'), [
      `--kubeconfig=${info.kubeconfigPath}`,
      '--leader-elect=false', '--enable-cert-rotation=false', `--cert-dir=${certs}`, `--ca-dir=${caDir}`,
      '--metrics-bind-address=0', `--health-probe-bind-address=127.0.0.1:${await freePort()}`,
      `--metrics-service-bind-address=127.0.0.1:${grpcPort}`, '--zap-log-level=info', '--zap-encoder=json',
    ], env, operatorLog, dir);
    await waitFor('KEDA operator gRPC metrics service', () => {
      if (operator!.exitCode !== null) throw new Error(`KEDA operator exited (${operator!.exitCode}); log ${operatorLog}:\n${readFileSync(operatorLog, 'utf8').slice(-3000)}`);
      return /Starting Metrics Service gRPC Server|serving grpc|gRPC server/i.test(readFileSync(operatorLog, 'utf8'));
    }, 90_000, 500);

    // Inside the namespace: the apiserver and the operator's gRPC on its loopback, via unix sockets.
    const apiPort = Number(new URL(info.server).port);
    await netns.forward([{ nsPort: apiPort, port: apiPort }, { nsPort: grpcPort, port: grpcPort }]);
    const kubeconfig = kubeconfigFor(info, `https://127.0.0.1:${apiPort}`, join(dir, 'adapter.kubeconfig'));
    const adapterLog = join(dir, 'keda-adapter.log');
    adapter = netns.spawn(toolPath('keda-adapter'), [
      `--bind-address=${netns.address}`, `--secure-port=${ADAPTER_PORT}`, `--cert-dir=${certs}`,
      `--tls-cert-file=${join(certs, 'tls.crt')}`, `--tls-private-key-file=${join(certs, 'tls.key')}`,
      `--lister-kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
      `--kubeconfig=${kubeconfig}`,
      `--metrics-service-address=127.0.0.1:${grpcPort}`, '--port=18080', '--zap-log-level=info', '--zap-encoder=json',
    ], { env: { ...env, KUBECONFIG: kubeconfig }, log: adapterLog, cwd: dir });
    await registerExternalMetrics(info, KEDA_NAMESPACE, netns.address, ADAPTER_PORT).catch((e: unknown) => {
      throw new Error(`${String(e)}\nadapter log ${adapterLog}:\n${existsSync(adapterLog) ? readFileSync(adapterLog, 'utf8').slice(-3000) : ''}`);
    });
    return { operatorLog, adapterLog, netns, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
