// reconcile(key), level-triggered (kubebuilder's shape): read the QwenService from the cache,
// render every desired object with the pure renderers, server-side apply what differs from the
// cache, prune what we own but no longer render, then write status (only when it changed).
// Errors propagate to the queue, which retries with backoff: no retry loops in here.
import type { Logger } from 'pino';
import { API_VERSION, KIND, type QwenService } from '../api/qwenservice.ts';
import { checkQwenService } from '../api/validate.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { FIELD_MANAGER, namespaceOf, selectorLabels, type KubeObject, type RenderConfig } from '../render/common.ts';
import { OWNED_KINDS, kindKey, renderAll } from '../render/index.ts';
import { renderMonitoring } from '../render/monitoring.ts';
import { containedIn, sameJson } from './compare.ts';
import { digestView } from './digest.ts';
import { transitions } from './conditions.ts';
import type { EventRecorder } from './events.ts';
import type { WriteEchoes } from './echo.ts';
import type { Cache } from './informer.ts';
import { computeStatus, reconcilerOwnedStatus, type Observed } from './status.ts';

export type Caches = {
  qwenServices: Cache;
  pods: Cache;
  /** One cache per owned kind that the cluster serves, by kindKey. */
  owned: ReadonlyMap<string, Cache>;
};

export type ReconcilerDeps = {
  client: KubeClient;
  caches: Caches;
  config: RenderConfig;
  events: EventRecorder;
  echoes: WriteEchoes;
  log: Logger;
  now?: () => Date;
};

export type ReconcileResult = { applied: number; pruned: number; statusWritten: boolean };

const WARNING_REASONS = new Set(['WaitingForGPU', 'Unschedulable', 'ImagePullBackOff', 'CrashLoopBackOff', 'OOMKilled', 'ModelLoadFailed', 'InvalidSpec', 'PrometheusOperatorMissing']);

/** Index key of a worker pod: its QwenService (pods are owned by ReplicaSets, so by label). */
export function podIndexKey(namespace: string | undefined, qwenservice: string | undefined): string | undefined {
  return qwenservice === undefined ? undefined : `${namespace ?? ''}/${qwenservice}`;
}

export function controllerOwnerUid(obj: KubeObject): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === KIND && r.apiVersion.startsWith('qwenops.io/'))?.uid;
}

export class Reconciler {
  private readonly d: ReconcilerDeps;
  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const result: ReconcileResult = { applied: 0, pruned: 0, statusWritten: false };
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.d.caches.qwenServices.get(namespace, name);
    if (!raw || (raw.metadata as { deletionTimestamp?: string }).deletionTimestamp) return result; // children go with it (ownerReferences)
    const log = this.d.log.child({ qwenservice: key });

    const checked = checkQwenService(raw);
    if (!checked.ok) {
      const message = checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      const fallback = { ...(raw as unknown as QwenService), spec: { ...(raw.spec as QwenService['spec']), replicas: Number((raw.spec as { replicas?: number })?.replicas ?? 0), gpu: { count: 0 }, model: { source: '', contextSize: 0, parallel: 0 } } } as QwenService;
      result.statusWritten = await this.writeStatus(fallback, { pods: [], missingMonitoringKinds: [], monitoringRequested: false, invalidSpec: message }, log);
      return result;
    }
    const qs = checked.value;
    const uid = (raw.metadata as { uid?: string }).uid;

    const served = new Set([...this.d.caches.owned.keys()]);
    const desired = renderAll(qs, this.d.config, { servedMonitoringKinds: served });
    // What the apiserver answered to our applies is newer than the cache: status reads it first,
    // so a just-created child does not cost a second status write once the watch catches up.
    const applied = new Map<string, KubeObject>();
    const stale = desired.filter((obj) => {
      const current = this.d.caches.owned.get(kindKey(obj))?.get(obj.metadata.namespace, obj.metadata.name);
      if (!current) return true;
      const { rest, digestsMatch } = digestView(obj, current);
      return !digestsMatch || !containedIn(rest, current);
    });
    // Children do not depend on each other: apply them together.
    await Promise.all(stale.map(async (obj) => {
      const answer = await this.d.client.apply<KubeObject>(obj, FIELD_MANAGER);
      this.d.echoes.wrote({ ...answer, kind: obj.kind });
      applied.set(`${kindKey(obj)}/${obj.metadata.name}`, answer);
      log.info({ kind: obj.kind, name: obj.metadata.name }, 'applied child');
    }));
    result.applied = stale.length;

    const wanted = new Set(desired.map((o) => `${kindKey(o)}/${o.metadata.name}`));
    for (const [kk, informer] of this.d.caches.owned) {
      for (const obj of uid ? informer.byIndex(uid) : []) {
        if (wanted.has(`${kk}/${obj.metadata.name}`)) continue;
        try {
          await this.d.client.delete(obj);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        result.pruned++;
        log.info({ kind: obj.kind, name: obj.metadata.name }, 'pruned child no longer rendered');
      }
    }

    const monitoringWanted = renderMonitoring(qs, this.d.config).filter((o) => OWNED_KINDS.some((k) => k.monitoring && kindKey(k) === kindKey(o)));
    const observed: Observed = {
      deployment: applied.get(`Deployment.apps/v1/${name}`) ?? this.d.caches.owned.get('Deployment.apps/v1')?.get(namespace, name),
      pods: this.podsOf(qs),
      missingMonitoringKinds: [...new Set(monitoringWanted.filter((o) => !served.has(kindKey(o))).map((o) => o.kind))],
      monitoringRequested: monitoringWanted.length > 0,
    };
    result.statusWritten = await this.writeStatus(qs, observed, log);
    return result;
  }

  private podsOf(qs: QwenService): KubeObject[] {
    const sel = selectorLabels(qs);
    return this.d.caches.pods.byIndex(podIndexKey(namespaceOf(qs), qs.metadata.name)!).filter((p) => Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  private async writeStatus(qs: QwenService, observed: Observed, log: Logger): Promise<boolean> {
    const now = (this.d.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = computeStatus(qs, observed, this.d.config, now);
    if (qs.status && sameJson(status, reconcilerOwnedStatus(qs.status))) return false;
    const answer = await this.d.client.apply<KubeObject>({ apiVersion: API_VERSION, kind: KIND, metadata: { name: qs.metadata.name, namespace: namespaceOf(qs) }, status }, FIELD_MANAGER, 'status');
    this.d.echoes.wrote({ ...answer, kind: KIND });
    // One Event per new reason (Ready and Degraded often flip for the same cause).
    const announced = new Set<string>();
    for (const c of transitions(qs.status?.conditions, status.conditions ?? [])) {
      // Events for what needs attention, and for becoming Ready; not for every step of a start.
      const noteworthy = WARNING_REASONS.has(c.reason) || (c.type === 'Ready' && c.status === 'True');
      if (!noteworthy) continue;
      if (announced.has(c.reason)) continue;
      announced.add(c.reason);
      const type = WARNING_REASONS.has(c.reason) ? 'Warning' : 'Normal';
      await this.d.events.record(qs as unknown as { metadata: { name: string; namespace?: string; uid?: string } }, type, c.reason, c.message).catch((err: unknown) => log.warn({ err: String(err) }, 'could not record event'));
    }
    log.info({ conditions: Object.fromEntries((status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`])) }, 'status updated');
    return true;
  }
}
