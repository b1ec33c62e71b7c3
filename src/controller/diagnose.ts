// Reads why worker pods are not ready from what the cluster reports (scheduler conditions,
// container states, termination messages) and names it the way a platform engineer would act on it.
import { Reason } from '../conventions.ts';
import type { KubeObject } from '../render/common.ts';

export type Diagnosis = { reason: string; message: string; failure: boolean };

type ContainerState = { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; message?: string; exitCode?: number }; running?: unknown };
type ContainerStatus = { name: string; ready?: boolean; started?: boolean; restartCount?: number; state?: ContainerState; lastState?: ContainerState };
type PodStatus = { phase?: string; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>; containerStatuses?: ContainerStatus[] };

const statusOf = (pod: KubeObject) => (pod.status ?? {}) as PodStatus;
const MODEL_WORDS = /model|gguf|sha-?256|download/i;

/** Ordered: the first cause found is the one reported (most actionable first). */
export function diagnosePods(pods: KubeObject[], gpuRequest: { count: number; product?: string }): Diagnosis | undefined {
  const live = pods.filter((p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp);
  for (const pod of live) {
    const sched = statusOf(pod).conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
    if (!sched) continue;
    const words = sched.message ?? 'no node fits';
    // No node with a free GPU, or none of the requested product (then the scheduler speaks of node affinity).
    const gpuShortfall = gpuRequest.count > 0 && (/nvidia\.com\/gpu/.test(words) || (!!gpuRequest.product && /node affinity|node\(s\) didn't match/.test(words)));
    if (gpuShortfall) {
      const want = `${gpuRequest.count} nvidia.com/gpu per worker${gpuRequest.product ? ` (product ${gpuRequest.product})` : ''}`;
      return { reason: Reason.WaitingForGPU, message: `pod ${pod.metadata.name} cannot be scheduled: needs ${want}; scheduler: ${words}`, failure: true };
    }
    return { reason: Reason.Unschedulable, message: `pod ${pod.metadata.name} cannot be scheduled: ${words}`, failure: true };
  }
  for (const pod of live) {
    for (const cs of statusOf(pod).containerStatuses ?? []) {
      const waiting = cs.state?.waiting?.reason;
      if (waiting === 'ImagePullBackOff' || waiting === 'ErrImagePull' || waiting === 'InvalidImageName') {
        return { reason: Reason.ImagePullBackOff, message: `pod ${pod.metadata.name}: ${cs.state?.waiting?.message ?? waiting}`, failure: true };
      }
    }
  }
  for (const pod of live) {
    for (const cs of statusOf(pod).containerStatuses ?? []) {
      const term = cs.state?.terminated ?? cs.lastState?.terminated;
      if (term?.reason === 'OOMKilled') {
        return { reason: Reason.OOMKilled, message: `pod ${pod.metadata.name}: the worker ran out of memory (restarts: ${cs.restartCount ?? 0}); raise resources.limits.memory or use a smaller model/context`, failure: true };
      }
      if (term && term.exitCode !== 0 && term.message && MODEL_WORDS.test(term.message)) {
        return { reason: Reason.ModelLoadFailed, message: `pod ${pod.metadata.name}: ${term.message.trim().slice(0, 500)}`, failure: true };
      }
    }
  }
  for (const pod of live) {
    for (const cs of statusOf(pod).containerStatuses ?? []) {
      if (cs.state?.waiting?.reason === 'CrashLoopBackOff') {
        const last = cs.lastState?.terminated;
        return { reason: Reason.CrashLoopBackOff, message: `pod ${pod.metadata.name}: the worker keeps exiting (code ${last?.exitCode ?? '?'}, restarts ${cs.restartCount ?? 0})${last?.message ? `: ${last.message.trim().slice(0, 300)}` : ''}`, failure: true };
      }
    }
  }
  for (const pod of live) {
    const st = statusOf(pod);
    const cs = st.containerStatuses?.find((c) => c.name === 'worker');
    if (st.phase === 'Running' && cs && !cs.ready) {
      return { reason: Reason.ModelDownloading, message: `pod ${pod.metadata.name}: waiting for the model to download and load (readyz not yet true)`, failure: false };
    }
  }
  if (live.some((p) => statusOf(p).phase === 'Pending')) {
    return { reason: Reason.PodsPending, message: `${live.filter((p) => statusOf(p).phase === 'Pending').length} worker pod(s) pending`, failure: false };
  }
  return undefined;
}
