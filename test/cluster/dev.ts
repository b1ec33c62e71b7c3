// `npm run cluster`: a dev control plane on this machine (etcd, kube-apiserver, controller-manager,
// scheduler, kwok with CPU + GPU nodes), the project's CRD and the prometheus-operator CRDs
// installed; prints the `export KUBECONFIG=...` line and runs until Ctrl-C, then stops everything.
// Flags: --bare (etcd + apiserver only), --no-crds, --nodes=N (N kwok nodes instead of the default set).
// $QWEN_CACHE/dev-cluster always points at the run dir of the newest dev cluster (kubeconfig, logs).
import { existsSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../support/tools.ts';
import { DEFAULT_NODES, startCluster } from './cluster.ts';

const args = process.argv.slice(2);
const bare = args.includes('--bare');
const nodesArg = args.find((a) => a.startsWith('--nodes='));
const root = join(import.meta.dirname, '..', '..');
const withCrds = !args.includes('--no-crds');
const ownCrd = join(root, 'crds', 'qwenops.io_qwenservices.yaml');

const started = Date.now();
const cluster = await startCluster({
  controllers: !bare, scheduler: !bare,
  ...(bare ? {} : { kwokNodes: nodesArg ? Number(nodesArg.slice('--nodes='.length)) : DEFAULT_NODES }),
  crds: withCrds ? [join(cacheDir, 'prometheus-operator-crds')] : [], verbose: true,
});
if (withCrds) {
  // The project's CRD is work in progress: a rejected CRD is reported, the cluster stays up.
  if (!existsSync(ownCrd)) process.stderr.write(`[cluster] ${ownCrd} not found (npm run generate)\n`);
  else await cluster.installCrds([ownCrd]).then(
    (names) => process.stderr.write(`[cluster] installed ${names.join(', ')}\n`),
    (e: unknown) => process.stderr.write(`[cluster] WARNING: the apiserver rejected ${ownCrd}: ${e instanceof Error ? e.message : String(e)}\n`));
}
const link = join(cacheDir, 'dev-cluster');
rmSync(link, { force: true });
symlinkSync(cluster.runDir, link);

let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n[cluster] ${signal}: stopping (logs stay in ${cluster.runDir}/logs)\n`);
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGHUP', () => void stop('SIGHUP'));

process.stderr.write(`[cluster] up in ${Date.now() - started} ms: ${cluster.server} (${cluster.components?.join(', ')})\n`);
process.stderr.write(`[cluster] logs: ${cluster.runDir}/logs   kubectl: ${join(cacheDir, 'bin', 'kubectl')}\n`);
process.stdout.write(`export KUBECONFIG=${cluster.kubeconfigPath}\n`);
process.stderr.write('[cluster] running until Ctrl-C\n');
setInterval(() => { /* keep the event loop alive */ }, 1 << 30);
