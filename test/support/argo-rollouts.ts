// The Argo Rollouts controller (built from its Go module by test/tools/build-argo-rollouts.sh)
// against a test control plane, on loopback: it runs the canary steps of our Rollouts and the
// AnalysisRuns of our AnalysisTemplates (which query the test's real Prometheus).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../cluster/cluster.ts';
import { apply, waitFor, type ClusterInfo } from '../cluster/client.ts';
import { cacheDir, toolPath } from './tools.ts';
import { startLogged, stopChild } from './child.ts';

export const ARGO_ROLLOUTS_CRDS = join(cacheDir, 'argo-rollouts-crds');
export const ARGO_NAMESPACE = 'argo-rollouts';

export type ArgoRollouts = { log: string; stop(): Promise<void> };

/** Starts the controller; stop() ends it, and a failed start leaves nothing running. */
export async function startArgoRollouts(info: ClusterInfo, dir: string): Promise<ArgoRollouts> {
  if (!existsSync(toolPath('argo-rollouts'))) throw new Error(`${toolPath('argo-rollouts')} missing: run test/tools/build-argo-rollouts.sh`);
  mkdirSync(dir, { recursive: true });
  await apply(info, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ARGO_NAMESPACE } });
  const log = join(dir, 'argo-rollouts.log');
  const healthz = await freePort();
  const child = startLogged(toolPath('argo-rollouts'), [
    `--kubeconfig=${info.kubeconfigPath}`, '--leader-elect=false', '--logformat=json', '--loglevel=info',
    `--healthzPort=${healthz}`, `--metricsPort=${await freePort()}`,
  ], { ...process.env, POD_NAMESPACE: ARGO_NAMESPACE }, log, dir);
  const stop = () => stopChild(child);
  try {
    await waitFor('Argo Rollouts controller healthy', async () => {
      if (child.exitCode !== null) throw new Error(`argo-rollouts exited (${child.exitCode}); log ${log}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
      return (await fetch(`http://127.0.0.1:${healthz}/healthz`).catch(() => undefined))?.ok;
    }, 60_000, 250);
    return { log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
