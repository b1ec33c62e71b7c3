// Wires the controller: informers (QwenServices, owned kinds, worker pods) feed keys into the
// work queue; N workers run reconcile(key); prometheus-operator kinds are discovered at start and
// periodically, so monitoring objects appear without a restart once their CRDs are installed.
import type { Logger } from 'pino';
import { API_VERSION, KIND } from '../api/qwenservice.ts';
import type { KubeClient } from '../kube/client.ts';
import type { RenderConfig } from '../render/common.ts';
import { OWNED_KINDS, kindKey, type OwnedKind } from '../render/index.ts';
import { EventRecorder } from './events.ts';
import { WriteEchoes } from './echo.ts';
import { Informer, InformerGroup, objectKey, type InformerTarget } from './informer.ts';
import type { OperatorMetrics } from './metrics.ts';
import { CONTROLLER } from './metrics.ts';
import { BlockedError, Reconciler, controllerOwnerUid, podIndexKey } from './reconciler.ts';
import { NotLeaderError } from '../kube/errors.ts';
import { WorkQueue } from './workqueue.ts';
import { slaStatusPoller, type SlaStatusPoller } from '../slastatus/poller.ts';

export type ManagerOptions = {
  client: KubeClient;
  config: RenderConfig;
  log: Logger;
  metrics: OperatorMetrics;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  concurrency: number;
  monitoringCheckIntervalMs: number;
  resyncIntervalMs: number;
  /** Live SLA status (status.sla, SLACompliant) read from this Prometheus; off when absent. */
  slaStatus?: { prometheusURL: string; intervalMs: number; timeoutMs?: number };
  /**
   * Backoff of a reconcile blocked by an ownership conflict or a refused apply (status says
   * why): 1 s doubling to 60 s by default. Nothing maps a foreign object's deletion back to
   * its QwenService, so the cap is also how long it may take to notice the name is free.
   */
  blockedBackoff?: { baseDelayMs: number; maxDelayMs: number };
};

const BLOCKED_BACKOFF = { baseDelayMs: 1_000, maxDelayMs: 60_000 };

const MANAGED = 'app.kubernetes.io/managed-by=qwen-operator';

export class Manager {
  readonly queue: WorkQueue;
  readonly qwenServices: InformerGroup;
  readonly pods: InformerGroup;
  readonly owned = new Map<string, InformerGroup>();
  private readonly o: ManagerOptions;
  private readonly reconciler: Reconciler;
  private readonly echoes = new WriteEchoes();
  private readonly timers: NodeJS.Timeout[] = [];
  private running = false;
  private workers: Promise<void>[] = [];
  private sla: SlaStatusPoller | undefined;

  constructor(opts: ManagerOptions) {
    this.o = opts;
    const m = opts.metrics;
    const name = { name: CONTROLLER };
    this.queue = new WorkQueue({
      hooks: {
        onAdd: () => m.adds.inc(name),
        onDepth: (d) => m.depth.set(name, d),
        onQueueLatency: (s) => m.queueDuration.observe(name, s),
        onWorkDuration: (s) => m.workDuration.observe(name, s),
        onRetry: () => m.retries.inc(name),
      },
    });
    this.qwenServices = this.group({ apiVersion: API_VERSION, kind: KIND });
    this.pods = this.group({ apiVersion: 'v1', kind: 'Pod', labelSelector: MANAGED, indexBy: (p) => podIndexKey(p.metadata.namespace, p.metadata.labels?.['qwenops.io/qwenservice']) });
    this.reconciler = new Reconciler({
      client: opts.client,
      config: opts.config,
      events: new EventRecorder(opts.client),
      echoes: this.echoes,
      log: opts.log,
      caches: { qwenServices: this.qwenServices, pods: this.pods, owned: this.owned },
    });
    this.qwenServices.on((e, obj) => { if (e === 'delete' || !this.echoes.isEcho(obj)) this.queue.add(objectKey(obj)); });
    this.pods.on((_e, obj) => {
      const owner = obj.metadata.labels?.['qwenops.io/qwenservice'];
      if (owner) this.queue.add(`${obj.metadata.namespace}/${owner}`);
    });
  }

  private group(target: InformerTarget): InformerGroup {
    const namespaces = this.o.namespaces.length ? this.o.namespaces : [undefined];
    return new InformerGroup(namespaces.map((ns) => new Informer(this.o.client, { ...target, namespace: ns }, this.o.log)));
  }

  /** Starts informers, waits for their first lists, then starts the workers. */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all([this.qwenServices.start(), this.pods.start(), this.syncOwnedKinds()]);
    this.o.log.info({ qwenServices: this.qwenServices.list().length, ownedKinds: [...this.owned.keys()] }, 'caches synced; starting workers');
    for (let i = 0; i < this.o.concurrency; i++) this.workers.push(this.work());
    this.every(this.o.monitoringCheckIntervalMs, () => this.syncOwnedKinds().catch((err: unknown) => this.o.log.warn({ err: String(err) }, 'discovery failed')));
    // Level-triggered safety net: every object is looked at again now and then.
    this.every(this.o.resyncIntervalMs, () => { for (const q of this.qwenServices.list()) this.queue.add(objectKey(q)); });
    // Its own loop on its own period: Prometheus never sits on the reconcile path.
    if (this.o.slaStatus) {
      this.sla = slaStatusPoller({ ...this.o.slaStatus, client: this.o.client, qwenServices: this.qwenServices, events: new EventRecorder(this.o.client), log: this.o.log.child({ loop: 'sla-status' }) });
      this.sla.start();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.queue.shutdown();
    await Promise.all([...this.workers, this.sla?.stop()]);
    this.qwenServices.stop();
    this.pods.stop();
    for (const g of this.owned.values()) g.stop();
  }

  /** Starts informers for owned kinds that became served (monitoring CRDs installed later). */
  private async syncOwnedKinds(): Promise<void> {
    const started: OwnedKind[] = [];
    for (const k of OWNED_KINDS) {
      const key = kindKey(k);
      if (this.owned.has(key)) continue;
      const served = await this.o.client.resourceFor(k.apiVersion, k.kind, 0);
      if (!served) continue;
      const g = this.group({ apiVersion: k.apiVersion, kind: k.kind, labelSelector: MANAGED, indexBy: controllerOwnerUid });
      g.on((e, obj) => {
        if (!controllerOwnerUid(obj) || (e !== 'delete' && this.echoes.isEcho(obj))) return;
        const owner = obj.metadata.ownerReferences?.find((r) => r.controller && r.kind === KIND);
        if (owner) this.queue.add(`${obj.metadata.namespace}/${owner.name}`);
      });
      await g.start();
      this.owned.set(key, g);
      started.push(k);
    }
    const monitoringServed = OWNED_KINDS.filter((k) => k.monitoring).every((k) => this.owned.has(kindKey(k)));
    this.o.metrics.monitoringServed.set(monitoringServed ? 1 : 0);
    // An optional kind (prometheus-operator's, KEDA's ScaledObject) that appears changes what is rendered.
    if (started.some((k) => k.monitoring || k.optional) && this.running) {
      this.o.log.info({ kinds: started.map((k) => k.kind) }, 'optional kinds now served; reconciling every QwenService');
      for (const q of this.qwenServices.list()) this.queue.add(objectKey(q));
    }
  }

  private async work(): Promise<void> {
    const m = this.o.metrics;
    const labels = { controller: CONTROLLER };
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      m.activeWorkers.inc(labels);
      const end = m.reconcileTime.startTimer(labels);
      try {
        await this.reconciler.reconcile(key);
        this.queue.forget(key);
        m.reconcileTotal.inc({ ...labels, result: 'success' });
      } catch (err) {
        m.reconcileErrors.inc(labels);
        m.reconcileTotal.inc({ ...labels, result: 'error' });
        if (err instanceof NotLeaderError) {
          // The lease is lost: the process is on its way out, a standby takes the key over.
          this.o.log.warn({ qwenservice: key, err: err.message }, 'reconcile stopped: not the leader');
        } else if (err instanceof BlockedError) {
          this.o.log.info({ qwenservice: key, reasons: [...new Set(err.problems.map((p) => p.reason))], retries: this.queue.retries(key) }, 'reconcile blocked (see status); retried with the slow backoff');
          this.queue.addRateLimited(key, this.o.blockedBackoff ?? BLOCKED_BACKOFF);
        } else {
          this.o.log.warn({ qwenservice: key, err: String(err), retries: this.queue.retries(key) }, 'reconcile failed; requeued with backoff');
          this.queue.addRateLimited(key);
        }
      } finally {
        end();
        m.activeWorkers.dec(labels);
        this.queue.done(key);
      }
    }
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
