// reconcile(key), level-triggered (kubebuilder's shape): read the QwenService from the cache,
// render every desired object with the pure renderers, create what is missing, server-side apply
// what differs from the cache, prune what we own but no longer render, then write status (only
// when it changed).
// Errors propagate to the queue, which retries with backoff: no retry loops in here.
//
// Never take over: a child is created (POST, so a name taken meanwhile is a 409) when it does not
// exist yet, and applied only when its controller ownerReference is this QwenService's uid. A
// name taken by anything else (a user's Service, an object of another controller, a leftover of
// a deleted QwenService of the same name) is left untouched — no apply, no ownerReference, hence
// never pruned nor garbage-collected through us — and reported as Ready=False/OwnershipConflict.
// A write the apiserver refuses (422, 403, ...) is Ready=False/ApplyFailed with its message. Both
// end the reconcile with BlockedError, which the queue retries with a slower backoff; the foreign
// object has no ownerReference to map an event back to us, so those retries are what notices it
// is gone.
import type { Logger } from 'pino';
import { API_VERSION, KIND, type QwenService, type QwenServiceStatus } from '../api/qwenservice.ts';
import { checkQwenService } from '../api/validate.ts';
import { FIELD_MANAGER, REPLICAS_HANDOFF_MANAGER, Reason, eventTypeOf, type EventType } from '../conventions.ts';
import type { KubeClient } from '../kube/client.ts';
import { conditionTime, transitions } from '../kube/conditions.ts';
import { isAlreadyExists, isNotFound, isRefusal, KubeApiError } from '../kube/errors.ts';
import { kindKey, namespaceOf, type KubeObject } from '../kube/object.ts';
import { applyStatus } from '../kube/status.ts';
import { selectorLabels, type RenderConfig } from '../render/common.ts';
import { isMonitoringKind, isWrittenFirst, renderPlanned, type RenderedObjects } from '../render/index.ts';
import { resolvePlan, type HeaderInput, type Plan } from '../plan/index.ts';
import { ANALYSIS_RUN, DEPLOYMENT_KEY, ROLLOUT_KEY, SCALED_OBJECT_KEY } from '../plan/kinds.ts';
import { routerName } from '../plan/names.ts';
import { lastFailed, promoted } from './rollout.ts';
import { readRollout, readSpecReplicas } from './read.ts';
import { POD_TEMPLATE_HASH_POD_LABEL } from '../sla/gates.ts';
import { containedIn, sameJson } from './compare.ts';
import { digestView } from './digest.ts';
import { createNotYetApplied } from './owned-view.ts';
import type { EventRecorder } from './events.ts';
import type { WriteEchoes } from './echo.ts';
import type { Cache } from './informer.ts';
import { computeStatus, invalidSpecStatus, reconcilerOwnedStatus, refusedStatus, type Observed, type StoredQwenService } from './status.ts';
import { NO_TENANT_LIMITS, checkTenantLimits, type TenantLimits } from './tenant-limits.ts';
import type { HeaderCache } from '../sizing/header-cache.ts';
import { controllerOwnerUid, qwenServiceKey } from './watches.ts';

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
  /** What a QwenService may ask for (images, smarthosts); none when absent. */
  limits?: TenantLimits;
  events: EventRecorder;
  echoes: WriteEchoes;
  log: Logger;
  now?: () => Date;
  /** Model heads and the CPU path's bandwidth: SLAFeasible, status.model, the worker's default memory. None: no sizing. */
  sizing?: { headers: HeaderCache; cpuBandwidthGBps: number };
};

/** What freshest() needs of the QwenService our last status write returned (not the whole object: one per QwenService is kept). */
type WrittenStatus = { name: string; namespace: string; resourceVersion?: string; status: QwenService['status'] };

export type ReconcileResult = { applied: number; pruned: number; statusWritten: boolean };

export type ChildProblem = { reason: 'OwnershipConflict' | 'ApplyFailed'; kind: string; name: string; message: string };

/** How long a new QwenService's first reconcile waits for its model's header (one reconcile worker held at most this long). */
const FIRST_READ_WAIT_MS = 10_000;

/** A child by kind and name (`Deployment.apps/v1/chat`): children of one QwenService share its namespace. */
const childKey = (obj: { apiVersion: string; kind: string; metadata: { name: string } }): string => `${kindKey(obj)}/${obj.metadata.name}`;

/** What applying the desired children came to. */
type ChildrenApplied = {
  /** What the apiserver answered to each apply: newer than the cache, so status reads it first. */
  answers: Map<string, KubeObject>;
  problems: ChildProblem[];
  /** childKeys of children left unwritten (conflicts, refusals): status must not read them as ours. */
  blocked: Set<string>;
};

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

/** One reason for the Ready condition (conflicts first: they need a person), every problem in the message. */
function blockedStatus(problems: ChildProblem[]): { reason: ChildProblem['reason']; message: string } {
  const sorted = [...problems].sort((a, b) => (a.reason === b.reason ? `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`) : a.reason === Reason.OwnershipConflict ? -1 : 1));
  return { reason: sorted[0]!.reason, message: sorted.map((p) => p.message).join('; ') };
}

/** True when resourceVersion a is known to be older than b (etcd revisions; opaque ones are never "older"). */
function olderVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  /**
   * The QwenService as our last status write returned it, by uid. The informer may still hold the
   * version before that write when the next reconcile runs; computing transitions against it would
   * announce the same Event twice and restart lastTransitionTime.
   */
  private readonly lastWritten = new Map<string, WrittenStatus>();
  /**
   * Children whose name a create found taken by an object this QwenService does not control
   * (`namespace/childKey`). Until one is written they are read live before any write, so a
   * conflict that lasts sends no create per retry (zero writes at rest); every other cache miss is
   * created at once, without a read.
   */
  private readonly taken = new Set<string>();
  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.caches.qwenServices.get(namespace, name);
    if (!raw || raw.metadata.deletionTimestamp) {
      if (raw?.metadata.uid) this.lastWritten.delete(raw.metadata.uid);
      else this.forget(namespace, name);
      return { applied: 0, pruned: 0, statusWritten: false }; // children go with it (ownerReferences)
    }
    const log = this.deps.log.child({ qwenservice: key });

    const checked = checkQwenService(raw);
    if (!checked.ok) {
      // Nothing can be rendered from it: say why in status, and leave the children as they are.
      const problems = checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      const stored = raw as unknown as StoredQwenService;
      const statusWritten = await this.writeStatus(stored, (qs, now) => invalidSpecStatus(qs, problems, this.deps.config, now), log);
      return { applied: 0, pruned: 0, statusWritten };
    }
    const qs = checked.value;
    const uid = raw.metadata.uid;
    const refusals = checkTenantLimits(qs, this.deps.limits ?? NO_TENANT_LIMITS, this.deps.config.workerImage, this.deps.config.routerImage);
    if (refusals.length) {
      // As for an invalid spec: nothing is applied, nor pruned. Children applied before stay as
      // they were (within the limits of that time); docs/security.md says how to find them.
      const refusal = { reason: refusals[0]!.reason, message: refusals.map((r) => r.message).join('; ') };
      log.warn(refusal, 'refused: asks for what the tenant limits do not allow');
      const statusWritten = await this.writeStatus(qs, (fresh, now) => refusedStatus(fresh, refusal, this.deps.config, now), log);
      return { applied: 0, pruned: 0, statusWritten };
    }

    // What the QwenService means here and now, resolved once: everything below reads it. The
    // model's header (an async read, cached) is an input to it, like the kinds the cluster serves.
    const plan = resolvePlan(qs, this.deps.config, new Set([...this.deps.caches.owned.keys()]), await this.sizingInput(qs, key), this.routerReady(qs));
    const rendered = renderPlanned(plan);
    const children = await this.applyChildren(rendered.objects, plan, uid, log);
    const pruned = await this.prune(rendered.objects, uid, log);
    const observed = this.observe(plan, rendered, children);
    if (observed.rollout?.rollout) observed.rollout.analysisRun = await this.stepAnalysisRun(observed.rollout.rollout, log);
    const statusWritten = await this.writeStatus(qs, (fresh, now) => computeStatus({ ...plan, qs: fresh }, observed, now), log);
    if (children.problems.length) throw new BlockedError(children.problems);
    return { applied: children.answers.size, pruned, statusWritten };
  }

  /**
   * What the header cache (an async read) knows of the model, for the plan's sizing (SLAFeasible,
   * status.model, the worker's default memory); starts the header read. Before the Deployment
   * exists, a read in progress is awaited a few seconds, so the workers start with their memory
   * sized rather than restart for it. Undefined: the operator runs without sizing.
   */
  private async sizingInput(qs: QwenService, key: string): Promise<HeaderInput | undefined> {
    const s = this.deps.sizing;
    if (!s) return undefined;
    const { source, sha256 } = qs.spec.model;
    const created = this.deps.caches.owned.get(DEPLOYMENT_KEY)?.get(namespaceOf(qs), qs.metadata.name) !== undefined;
    const header = created || qs.status?.model ? s.headers.lookup(source, sha256, key) : await s.headers.lookupWithin(source, sha256, key, FIRST_READ_WAIT_MS);
    return { header, cpuBandwidthGBps: s.cpuBandwidthGBps };
  }

  /**
   * Applies every desired child that differs from the cache, never one this QwenService does not
   * control. Children are handled together, but for those others need to exist (`isWrittenFirst`:
   * a Role, which the apiserver reads when its RoleBinding is written), written just before; one
   * failing does not stop the rest. A retryable failure is thrown once all are done.
   */
  private async applyChildren(desired: KubeObject[], plan: Plan, uid: string | undefined, log: Logger): Promise<ChildrenApplied> {
    const result: ChildrenApplied = { answers: new Map(), problems: [], blocked: new Set() };
    let retryable: unknown;
    // Two waves: what others need to exist first (a Role before its RoleBinding), then the rest.
    const waves = [desired.filter(isWrittenFirst), desired.filter((o) => !isWrittenFirst(o))];
    for (const wave of waves) await Promise.all(wave.map(async (obj) => {
      try {
        const problem = await this.applyChild(obj, plan, uid, result.answers, log);
        if (!problem) return;
        result.problems.push(problem);
        result.blocked.add(childKey(obj));
      } catch (e) {
        retryable ??= e;
      }
    }));
    if (retryable) throw retryable;
    return result;
  }

  /**
   * One child: skipped when the cache already holds it, created when new, applied when ours; a
   * problem when it is not ours or refused. The caches hold labelled children only, so a miss may
   * still be a name someone else took (or our child with its label removed): the create's 409
   * says so, and only then is the name read live. Most misses are new children: a read before
   * every create would double the requests of a first converge.
   */
  private async applyChild(obj: KubeObject, plan: Plan, uid: string | undefined, answers: Map<string, KubeObject>, log: Logger): Promise<ChildProblem | undefined> {
    const where = `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`;
    const takenKey = `${obj.metadata.namespace}/${childKey(obj)}`;
    const conflict = (current: KubeObject): ChildProblem => {
      this.taken.add(takenKey);
      return {
        reason: Reason.OwnershipConflict, kind: obj.kind, name: obj.metadata.name,
        message: `${where} already exists and is ${describeController(current)}, not this QwenService; it is left untouched — delete or rename it and the operator creates its own`,
      };
    };
    const readLive = () => this.deps.client.find<KubeObject>(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    let current: KubeObject | undefined;
    try {
      current = this.deps.caches.owned.get(kindKey(obj))?.get(obj.metadata.namespace, obj.metadata.name);
      if (!current && this.taken.has(takenKey)) current = await readLive();
      let answer: KubeObject | undefined;
      if (!current) {
        // New: created (POST), never applied: an apply would merge into an object someone else
        // created meanwhile and adopt it; a create of a taken name is a 409 instead.
        try {
          answer = await this.deps.client.create<KubeObject>(obj, FIELD_MANAGER);
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
          current = await readLive();
          if (!current) throw e; // gone again meanwhile: the retry creates it
        }
      }
      if (current && (!uid || controllerOwnerUid(current) !== uid)) return conflict(current);
      if (current) {
        const { rest, digestsMatch } = digestView(obj, current);
        if (digestsMatch && containedIn(rest, current)) {
          this.taken.delete(takenKey);
          return undefined;
        }
        // Ours: applied with force (a user's edit of our fields is reverted) and its uid, so an
        // object deleted and recreated by someone else meanwhile is refused instead of taken over.
        // A create is recorded as applied only now, before the first apply that could drop one of
        // its fields: a converge that changes nothing after the create costs one write per child.
        if (createNotYetApplied(current, FIELD_MANAGER)) {
          const recorded: KubeObject = await this.deps.client.recordCreateAsApplied(current, FIELD_MANAGER);
          if (recorded.metadata.resourceVersion !== current.metadata.resourceVersion) this.deps.echoes.wrote({ ...recorded, kind: obj.kind });
          current = recorded;
        }
        await this.handOffReplicas(obj, current, plan);
        answer = await this.deps.client.apply<KubeObject>({ ...obj, metadata: { ...obj.metadata, uid: current.metadata.uid } }, FIELD_MANAGER, undefined, { force: true });
      }
      this.taken.delete(takenKey);
      this.deps.echoes.wrote({ ...answer!, kind: obj.kind });
      answers.set(childKey(obj), answer!);
      log.info({ kind: obj.kind, name: obj.metadata.name }, current ? 'applied child' : 'created child');
      return undefined;
    } catch (e) {
      if (!isRefusal(e) || isUidMismatch(e)) throw e;
      log.warn({ kind: obj.kind, name: obj.metadata.name, status: e.status, err: refusalMessage(e) }, 'apply refused');
      return { reason: Reason.ApplyFailed, kind: obj.kind, name: obj.metadata.name, message: `the apiserver refused ${where}: ${refusalMessage(e)}` };
    }
  }

  /** Deletes what this QwenService controls but no longer renders (e.g. SLA removed: its PrometheusRule); returns how many. */
  private async prune(desired: KubeObject[], uid: string | undefined, log: Logger): Promise<number> {
    if (!uid) return 0;
    const wanted = new Set(desired.map(childKey));
    let pruned = 0;
    for (const [kind, cache] of this.deps.caches.owned) {
      for (const obj of cache.byIndex(uid)) {
        if (wanted.has(`${kind}/${obj.metadata.name}`)) continue;
        try {
          await this.deps.client.delete(obj);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        pruned++;
        log.info({ kind: obj.kind, name: obj.metadata.name }, 'pruned child no longer rendered');
      }
    }
    return pruned;
  }

  /** Whether the router's Deployment (as cached) has a ready pod: KEDA's external-push trigger waits for one (RouterPlan.scalerReady). */
  private routerReady(qs: QwenService): boolean {
    if (!qs.spec.router) return false;
    const d = this.deps.caches.owned.get(DEPLOYMENT_KEY)?.get(namespaceOf(qs), routerName(qs)) as { status?: { readyReplicas?: number } } | undefined;
    return (d?.status?.readyReplicas ?? 0) > 0;
  }

  /** What status is computed from: the children as just applied (else as cached), the worker pods, what the cluster serves. */
  private observe(plan: Plan, rendered: RenderedObjects, children: ChildrenApplied): Observed {
    const { qs } = plan;
    const namespace = namespaceOf(qs);
    const name = qs.metadata.name;
    const current = (kind: string, child = name) => children.answers.get(`${kind}/${child}`) ?? this.deps.caches.owned.get(kind)?.get(namespace, child);
    const monitoringWanted = [...rendered.objects, ...rendered.unserved].filter(isMonitoringKind);
    return {
      deployment: children.blocked.has(`${DEPLOYMENT_KEY}/${name}`) ? undefined : current(DEPLOYMENT_KEY),
      ...(plan.router ? { routerDeployment: current(DEPLOYMENT_KEY, plan.router.name) } : {}),
      pods: this.podsOf(qs),
      missingMonitoringKinds: [...new Set(monitoringWanted.filter((o) => !plan.served(o)).map((o) => o.kind))],
      monitoringRequested: monitoringWanted.length > 0,
      ...(children.problems.length ? { blocked: blockedStatus(children.problems) } : {}),
      autoscaling: { scaledObject: current(SCALED_OBJECT_KEY) },
      ...(plan.gate ? { rollout: { rollout: current(ROLLOUT_KEY) } } : {}),
    };
  }

  /**
   * The AnalysisRun behind the Rollout's state: the current step's (which budget is spent), or
   * after an abort — when Argo has already cleared the step — the failed one of the aborted
   * version (which SLO the canary failed, by how much). Read live: Argo creates one per step, and
   * caching them all would cost more than this read per Rollout change.
   */
  private async stepAnalysisRun(rollout: KubeObject, log: Logger): Promise<KubeObject | undefined> {
    const { status } = readRollout(rollout);
    const name = status.canary?.currentStepAnalysisRunStatus?.name;
    const warn = (err: unknown) => { log.warn({ err: String(err), analysisRun: name }, 'could not read the AnalysisRun'); return undefined; };
    if (name) return this.deps.client.find<KubeObject>(ANALYSIS_RUN.apiVersion, ANALYSIS_RUN.kind, rollout.metadata.namespace, name).catch(warn);
    if (!status.abort || !status.currentPodHash) return undefined;
    const runs = await this.deps.client.list(ANALYSIS_RUN.apiVersion, ANALYSIS_RUN.kind, { namespace: rollout.metadata.namespace, labelSelector: `${POD_TEMPLATE_HASH_POD_LABEL}=${status.currentPodHash}` }).catch(warn);
    return lastFailed(runs?.items ?? [], rollout.metadata.uid);
  }

  /**
   * When the plan gives the Deployment's count to another owner (the HPA, a Rollout) it is
   * rendered without spec.replicas. Were we its only manager, server-side apply would remove the
   * field and the apiserver default it to 1, killing workers until the new owner scales back. So
   * the current count is first claimed by a second field manager of ours, which keeps it in place
   * for the new owner (whose scale updates then take it over).
   */
  private async handOffReplicas(obj: KubeObject, current: KubeObject, plan: Plan): Promise<void> {
    if (kindKey(obj) !== DEPLOYMENT_KEY || plan.replicas.deploymentReplicas !== undefined) return;
    const replicas = readSpecReplicas(current);
    if (replicas === undefined) return;
    const claim = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, uid: current.metadata.uid }, spec: { replicas } };
    const answer = await this.deps.client.apply<KubeObject>(claim, REPLICAS_HANDOFF_MANAGER, undefined, { force: true });
    this.deps.echoes.wrote({ ...answer, kind: obj.kind });
  }

  private podsOf(qs: QwenService): KubeObject[] {
    const sel = selectorLabels(qs);
    return this.deps.caches.pods.byIndex(qwenServiceKey(namespaceOf(qs), qs.metadata.name)!).filter((p) => Object.entries(sel).every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  private forget(namespace: string, name: string): void {
    for (const [uid, q] of this.lastWritten) if (q.name === name && q.namespace === namespace) this.lastWritten.delete(uid);
  }

  /**
   * The newer of the cached QwenService and the one our last status write returned. Once the
   * cache holds our write (or a later version), the write is forgotten: only writes the cache has
   * not caught up with are kept.
   */
  private freshest<T extends StoredQwenService>(qs: T): T {
    const { uid, resourceVersion } = qs.metadata as { uid?: string; resourceVersion?: string };
    const mine = uid ? this.lastWritten.get(uid) : undefined;
    if (!mine) return qs;
    if (olderVersion(resourceVersion, mine.resourceVersion)) return { ...qs, status: mine.status };
    this.lastWritten.delete(uid!);
    return qs;
  }

  /**
   * Computes status from the freshest QwenService we know and applies it when it differs from
   * what is stored; announces the transitions worth an Event. True when written.
   */
  private async writeStatus<T extends StoredQwenService>(cached: T, compute: (qs: T, now: string) => QwenServiceStatus, log: Logger): Promise<boolean> {
    const qs = this.freshest(cached);
    const status = compute(qs, conditionTime(this.deps.now?.() ?? new Date()));
    if (qs.status && sameJson(status, reconcilerOwnedStatus(qs.status))) return false;
    const answer = await applyStatus(this.deps.client, { apiVersion: API_VERSION, kind: KIND, name: qs.metadata.name, namespace: namespaceOf(qs) }, status, FIELD_MANAGER);
    this.deps.echoes.wrote({ ...answer, kind: KIND });
    if (answer?.metadata?.uid) this.lastWritten.set(answer.metadata.uid, { name: answer.metadata.name, namespace: namespaceOf(answer), resourceVersion: answer.metadata.resourceVersion, status: (answer as unknown as QwenService).status });
    // One Event per new reason (Ready and Degraded often flip for the same cause).
    const announced = new Set<string>();
    const record = (type: EventType, reason: string, message: string) =>
      this.deps.events.record(qs as unknown as { metadata: { name: string; namespace?: string; uid?: string } }, type, reason, message).catch((err: unknown) => log.warn({ err: String(err) }, 'could not record event'));
    for (const c of transitions(qs.status?.conditions, status.conditions ?? [])) {
      // Events for what needs attention, and for becoming Ready (conventions.ts REASONS); not for every step of a start.
      const type = eventTypeOf(c.reason);
      if (!type || announced.has(c.reason)) continue;
      announced.add(c.reason);
      await record(type, c.reason, c.message);
    }
    if (promoted(qs.status?.rollout, status.rollout)) {
      await record(eventTypeOf(Reason.RolloutPromoted)!, Reason.RolloutPromoted, `canary promoted: every worker now runs version ${status.rollout!.stableHash} (was ${qs.status!.rollout!.stableHash})`);
    }
    log.info({ conditions: Object.fromEntries((status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`])) }, 'status updated');
    return true;
  }
}
