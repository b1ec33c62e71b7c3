// reconcile(key), level-triggered (kubebuilder's shape): read the QwenService from the cache,
// render every desired object with the pure renderers, server-side apply what differs from the
// cache, prune what we own but no longer render, then write status (only when it changed).
// Errors propagate to the queue, which retries with backoff: no retry loops in here.
//
// Never take over: a child is written only when it does not exist yet or when its controller
// ownerReference is this QwenService's uid. A name taken by anything else (a user's Service, an
// object of another controller, a leftover of a deleted QwenService of the same name) is left
// untouched — no apply, no ownerReference, hence never pruned nor garbage-collected through us —
// and reported as Ready=False/OwnershipConflict. An apply the apiserver refuses (422, 403, ...)
// is Ready=False/ApplyFailed with its message. Both end the reconcile with BlockedError, which
// the queue retries with a slower backoff; the foreign object has no ownerReference to map an
// event back to us, so those retries are what notices it is gone.
import type { Logger } from 'pino';
import { API_VERSION, KIND, type QwenService } from '../api/qwenservice.ts';
import { checkQwenService } from '../api/validate.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound, isRefusal, KubeApiError } from '../kube/errors.ts';
import { FIELD_MANAGER, namespaceOf, selectorLabels, type KubeObject, type RenderConfig } from '../render/common.ts';
import { OWNED_KINDS, kindKey, renderAll } from '../render/index.ts';
import { renderMonitoring } from '../render/monitoring.ts';
import { SCALED_OBJECT_KEY } from '../render/scaledobject.ts';
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

/** The field manager that keeps a Deployment's replicas while the HPA takes them over (see handOffReplicas). */
export const REPLICAS_HANDOFF_MANAGER = 'qwen-operator-replicas-handoff';

const WARNING_REASONS = new Set(['WaitingForGPU', 'Unschedulable', 'ImagePullBackOff', 'CrashLoopBackOff', 'OOMKilled', 'ModelLoadFailed', 'InvalidSpec', 'PrometheusOperatorMissing', 'OwnershipConflict', 'ApplyFailed']);

export type ChildProblem = { reason: 'OwnershipConflict' | 'ApplyFailed'; kind: string; name: string; message: string };

/**
 * The reconcile could not converge for a reason a plain retry will not fix soon (a name taken by
 * an object we do not control, an apply the apiserver refuses). Status already says so; the
 * queue retries it with the slower backoff.
 */
export class BlockedError extends Error {
  readonly problems: ChildProblem[];
  constructor(problems: ChildProblem[]) {
    super(problems.map((p) => p.message).join('; '));
    this.name = 'BlockedError';
    this.problems = problems;
  }
}

function describeController(obj: KubeObject): string {
  const c = obj.metadata.ownerReferences?.find((r) => r.controller);
  return c ? `controlled by ${c.kind} ${c.name} (uid ${c.uid})` : 'not controlled by any owner';
}

/**
 * The apiserver's answer when the uid we sent is not the object's: the name now belongs to
 * another object (ours was deleted and someone recreated it since our cache saw it). Not a
 * refusal of what we render: retried, and the next reconcile reads the newcomer and reports it.
 */
function isUidMismatch(e: KubeApiError): boolean {
  const causes = (e.body as { details?: { causes?: Array<{ field?: string }> } } | undefined)?.details?.causes;
  return e.status === 422 && !!causes?.some((c) => c.field === 'metadata.uid');
}

/** The Status message of a refusal, without the method and path our error adds. */
function refusalMessage(e: KubeApiError): string {
  return (e.body as { message?: string } | undefined)?.message ?? e.message;
}

/** Index key of a worker pod: its QwenService (pods are owned by ReplicaSets, so by label). */
export function podIndexKey(namespace: string | undefined, qwenservice: string | undefined): string | undefined {
  return qwenservice === undefined ? undefined : `${namespace ?? ''}/${qwenservice}`;
}

export function controllerOwnerUid(obj: KubeObject): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === KIND && r.apiVersion.startsWith('qwenops.io/'))?.uid;
}

/** One reason for the Ready condition (conflicts first: they need a person), every problem in the message. */
function blockedStatus(problems: ChildProblem[]): { reason: ChildProblem['reason']; message: string } {
  const sorted = [...problems].sort((a, b) => (a.reason === b.reason ? `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`) : a.reason === 'OwnershipConflict' ? -1 : 1));
  return { reason: sorted[0]!.reason, message: sorted.map((p) => p.message).join('; ') };
}

/** True when resourceVersion a is known to be older than b (etcd revisions; opaque ones are never "older"). */
function olderVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

export class Reconciler {
  private readonly d: ReconcilerDeps;
  /**
   * The QwenService as our last status write returned it, by uid. The informer may still hold the
   * version before that write when the next reconcile runs; computing transitions against it would
   * announce the same Event twice and restart lastTransitionTime.
   */
  private readonly lastWritten = new Map<string, QwenService>();
  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const result: ReconcileResult = { applied: 0, pruned: 0, statusWritten: false };
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.d.caches.qwenServices.get(namespace, name);
    if (!raw || (raw.metadata as { deletionTimestamp?: string }).deletionTimestamp) {
      if (raw?.metadata.uid) this.lastWritten.delete(raw.metadata.uid);
      else this.forget(namespace, name);
      return result; // children go with it (ownerReferences)
    }
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
    const problems: ChildProblem[] = [];
    const blocked = new Set<string>();
    const conflict = (obj: KubeObject, existing: KubeObject) => {
      const where = `${obj.kind} ${namespace}/${obj.metadata.name}`;
      problems.push({
        reason: 'OwnershipConflict', kind: obj.kind, name: obj.metadata.name,
        message: `${where} already exists and is ${describeController(existing)}, not this QwenService; it is left untouched — delete or rename it and the operator creates its own`,
      });
      blocked.add(`${kindKey(obj)}/${obj.metadata.name}`);
    };
    let retryable: unknown;
    // Children do not depend on each other: handle them together; one failing does not stop the rest.
    await Promise.all(desired.map(async (obj) => {
      const kk = `${kindKey(obj)}/${obj.metadata.name}`;
      try {
        let current = this.d.caches.owned.get(kindKey(obj))?.get(obj.metadata.namespace, obj.metadata.name);
        // The caches hold labelled children only: a miss may still be a name someone else took
        // (or our child with its label removed). Read it live before writing anything.
        if (!current) current = await this.d.client.find(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
        if (current && (!uid || controllerOwnerUid(current) !== uid)) return conflict(obj, current);
        if (current) {
          const { rest, digestsMatch } = digestView(obj, current);
          if (digestsMatch && containedIn(rest, current)) return;
        }
        // Ours: force (a user's edit of our fields is reverted), with its uid, so an object
        // deleted and recreated by someone else meanwhile is refused instead of taken over.
        // New: no force, so fields someone else manages on an object created meanwhile conflict.
        const body = current ? { ...obj, metadata: { ...obj.metadata, uid: current.metadata.uid } } : obj;
        if (current) await this.handOffReplicas(obj, current);
        const answer = await this.d.client.apply<KubeObject>(body, FIELD_MANAGER, undefined, { force: current !== undefined });
        this.d.echoes.wrote({ ...answer, kind: obj.kind });
        applied.set(kk, answer);
        result.applied++;
        log.info({ kind: obj.kind, name: obj.metadata.name }, current ? 'applied child' : 'created child');
      } catch (e) {
        if (isRefusal(e) && !isUidMismatch(e)) {
          problems.push({ reason: 'ApplyFailed', kind: obj.kind, name: obj.metadata.name, message: `the apiserver refused ${obj.kind} ${namespace}/${obj.metadata.name}: ${refusalMessage(e)}` });
          blocked.add(kk);
          log.warn({ kind: obj.kind, name: obj.metadata.name, status: e.status, err: refusalMessage(e) }, 'apply refused');
        } else retryable ??= e;
      }
    }));
    if (retryable) throw retryable;

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
    const deploymentKey = `Deployment.apps/v1/${name}`;
    const observed: Observed = {
      deployment: blocked.has(deploymentKey) ? undefined : applied.get(deploymentKey) ?? this.d.caches.owned.get('Deployment.apps/v1')?.get(namespace, name),
      pods: this.podsOf(qs),
      missingMonitoringKinds: [...new Set(monitoringWanted.filter((o) => !served.has(kindKey(o))).map((o) => o.kind))],
      monitoringRequested: monitoringWanted.length > 0,
      ...(problems.length ? { blocked: blockedStatus(problems) } : {}),
      autoscaling: {
        kedaServed: served.has(SCALED_OBJECT_KEY),
        prometheusURL: !!this.d.config.prometheusURL,
        scaledObject: applied.get(`${SCALED_OBJECT_KEY}/${name}`) ?? this.d.caches.owned.get(SCALED_OBJECT_KEY)?.get(namespace, name),
      },
    };
    result.statusWritten = await this.writeStatus(qs, observed, log);
    if (problems.length) throw new BlockedError(problems);
    return result;
  }

  /**
   * A Deployment that becomes autoscaled is rendered without spec.replicas. Were we its only
   * manager, server-side apply would remove the field and the apiserver default it to 1, killing
   * workers until the HPA scales back. So the current count is first claimed by a second field
   * manager of ours, which keeps it in place for the HPA (whose scale updates then take it over).
   */
  private async handOffReplicas(obj: KubeObject, current: KubeObject): Promise<void> {
    if (obj.kind !== 'Deployment' || 'replicas' in (obj.spec as object)) return;
    const replicas = (current.spec as { replicas?: number } | undefined)?.replicas;
    if (replicas === undefined) return;
    const claim = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, uid: current.metadata.uid }, spec: { replicas } };
    const answer = await this.d.client.apply<KubeObject>(claim, REPLICAS_HANDOFF_MANAGER, undefined, { force: true });
    this.d.echoes.wrote({ ...answer, kind: obj.kind });
  }

  private podsOf(qs: QwenService): KubeObject[] {
    const sel = selectorLabels(qs);
    return this.d.caches.pods.byIndex(podIndexKey(namespaceOf(qs), qs.metadata.name)!).filter((p) => Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  private forget(namespace: string, name: string): void {
    for (const [uid, q] of this.lastWritten) if (q.metadata.name === name && namespaceOf(q) === namespace) this.lastWritten.delete(uid);
  }

  /** The newer of the cached QwenService and the one our last status write returned. */
  private freshest(qs: QwenService): QwenService {
    const mine = qs.metadata.uid ? this.lastWritten.get(qs.metadata.uid) : undefined;
    return mine && olderVersion(qs.metadata.resourceVersion, mine.metadata.resourceVersion) ? { ...qs, status: mine.status } : qs;
  }

  private async writeStatus(cached: QwenService, observed: Observed, log: Logger): Promise<boolean> {
    const qs = this.freshest(cached);
    const now = (this.d.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = computeStatus(qs, observed, this.d.config, now);
    if (qs.status && sameJson(status, reconcilerOwnedStatus(qs.status))) return false;
    const answer = await this.d.client.apply<KubeObject>({ apiVersion: API_VERSION, kind: KIND, metadata: { name: qs.metadata.name, namespace: namespaceOf(qs) }, status }, FIELD_MANAGER, 'status');
    this.d.echoes.wrote({ ...answer, kind: KIND });
    if (answer?.metadata?.uid) this.lastWritten.set(answer.metadata.uid, answer as unknown as QwenService);
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
