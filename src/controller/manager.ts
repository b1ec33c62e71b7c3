// Wires the controller (controller-runtime's Manager): caches of what watches.ts lists feed
// QwenService keys into the work queue; N workers run reconcile(key); owned kinds are discovered
// at start and periodically; a full resync now and then. Other loops that read the same caches
// (the SLA status loop) are added as runnables by the process that wires them (src/commands/run.ts),
// so the controller does not depend on them.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import { objectKey, type KubeObject } from '../kube/object.ts';
import type { RenderConfig } from '../render/common.ts';
import { EventRecorder } from './events.ts';
import { WriteEchoes } from './echo.ts';
import { Informer, InformerGroup, type InformerHandler, type InformerTarget } from './informer.ts';
import type { OperatorMetrics } from './metrics.ts';
import { OwnedCaches } from './owned-caches.ts';
import { Reconciler } from './reconciler.ts';
import type { TenantLimits } from './tenant-limits.ts';
import { MANAGED_SELECTOR, PRIMARY, WORKER_PODS, childOwnerKey, podOwnerKey } from './watches.ts';
import { queueMetricHooks, runWorker, type BackoffOptions } from './worker.ts';
import { WorkQueue } from './workqueue.ts';
import { HeaderCache } from '../sizing/header-cache.ts';
import { redactModelSource } from '../api/model-source.ts';
import { DEFAULT_FETCH_OPTIONS, readRemoteFacts, type FetchOptions } from '../sizing/remote.ts';
import type { ModelFacts } from '../sizing/facts.ts';

export type ManagerOptions = {
  client: KubeClient;
  config: RenderConfig;
  /** What a QwenService may ask for (images, smarthosts); none when absent. */
  limits?: TenantLimits;
  log: Logger;
  metrics: OperatorMetrics;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  concurrency: number;
  monitoringCheckIntervalMs: number;
  resyncIntervalMs: number;
  /**
   * Backoff of a reconcile blocked by an ownership conflict or a refused apply (status says
   * why): 1 s doubling to 60 s by default. Nothing maps a foreign object's deletion back to
   * its QwenService, so the cap is also how long it may take to notice the name is free.
   */
  blockedBackoff?: BackoffOptions;
  /** Sizing (SLAFeasible, status.model, the worker's default memory); absent: none. */
  sizing?: SizingOptions;
};

export type SizingOptions = {
  /** The CPU path's memory bandwidth (GB/s), for gpu.count 0. */
  cpuBandwidthGBps: number;
  /** How model heads are fetched (timeouts, CA, and for tests plain http). */
  fetch?: FetchOptions;
  /** Where hf: sources resolve (tests). */
  hfEndpoint?: string;
};

/** A loop that runs beside the workers once the caches are synced (controller-runtime's Runnable). */
export type Runnable = { start(): void; stop(): Promise<void> };

const BLOCKED_BACKOFF: BackoffOptions = { baseDelayMs: 1_000, maxDelayMs: 60_000 };

export class Manager {
  readonly queue: WorkQueue;
  readonly qwenServices: InformerGroup;
  readonly pods: InformerGroup;
  readonly owned: ReadonlyMap<string, InformerGroup>;
  private readonly opts: ManagerOptions;
  private readonly ownedCaches: OwnedCaches;
  private readonly reconciler: Reconciler;
  private readonly echoes = new WriteEchoes();
  private readonly headers: HeaderCache | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly runnables: Runnable[] = [];
  private running = false;
  private workers: Promise<void>[] = [];
  /**
   * Events about a QwenService or its children that arrived while it was being reconciled, by
   * key. The watch often delivers a write's event before the write's answer, which is what tells
   * an echo; judged once the reconcile has ended, our own writes' echoes do not reconcile it again.
   */
  private readonly duringReconcile = new Map<string, KubeObject[]>();

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.queue = new WorkQueue({ hooks: queueMetricHooks(opts.metrics) });
    this.qwenServices = this.cache({ apiVersion: PRIMARY.apiVersion, kind: PRIMARY.kind });
    this.pods = this.cache({ apiVersion: WORKER_PODS.apiVersion, kind: WORKER_PODS.kind, labelSelector: MANAGED_SELECTOR, indexBy: podOwnerKey });
    this.ownedCaches = new OwnedCaches(opts.client, (target) => this.cache(target), this.enqueueOwner(childOwnerKey));
    this.owned = this.ownedCaches.byKind;
    this.headers = opts.sizing ? this.headerCache(opts.sizing) : undefined;
    this.reconciler = new Reconciler({
      client: opts.client,
      config: opts.config,
      ...(opts.limits ? { limits: opts.limits } : {}),
      events: new EventRecorder(opts.client),
      echoes: this.echoes,
      log: opts.log,
      caches: { qwenServices: this.qwenServices, pods: this.pods, owned: this.owned },
      ...(opts.sizing && this.headers ? { sizing: { headers: this.headers, cpuBandwidthGBps: opts.sizing.cpuBandwidthGBps } } : {}),
    });
    this.qwenServices.on(this.enqueueOwner(objectKey));
    // A pod's own status changes are news (why workers are not ready): no echo check.
    this.pods.on((_e, obj) => { const key = podOwnerKey(obj); if (key) this.queue.add(key); });
  }

  /** Adds a loop started once the caches are synced and stopped with the workers; started at once when the manager already runs. */
  add(runnable: Runnable): void {
    this.runnables.push(runnable);
    if (this.running) runnable.start();
  }

  /**
   * The model facts the workers of QwenService `key` report for `source` (the SLA loop reads them
   * from Prometheus): sizing uses them where the operator cannot read the head itself, and the
   * QwenService is reconciled again when they are news. Ignored when the operator does no sizing.
   */
  reportModelFacts(key: string, source: string, sha256: string | undefined, facts: ModelFacts): void {
    this.headers?.report(key, source, sha256, facts);
  }

  /** Model heads read in the background; a settled read requeues the QwenServices that waited for it. */
  private headerCache(opts: SizingOptions): HeaderCache {
    const fetch = opts.fetch ?? DEFAULT_FETCH_OPTIONS;
    return new HeaderCache({
      read: async (url) => {
        const log = this.opts.log.child({ model: redactModelSource(url) });
        try {
          const facts = await readRemoteFacts(url, fetch);
          log.info({ architecture: facts.architecture, parameters: facts.parameters, quantization: facts.quantization }, 'read the model header');
          return facts;
        } catch (err) {
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the model header');
          throw err;
        }
      },
      settled: (keys) => { for (const key of keys) this.queue.add(key); },
      ...(opts.hfEndpoint ? { hfEndpoint: opts.hfEndpoint } : {}),
      workerReports: !!this.opts.config.prometheusURL,
    });
  }

  /** Starts the caches, waits for their first lists, then starts the workers and the added loops. */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all([this.qwenServices.start(), this.pods.start(), this.syncOwnedKinds()]);
    this.opts.log.info({ qwenServices: this.qwenServices.list().length, ownedKinds: [...this.owned.keys()] }, 'caches synced; starting workers');
    const reconcile = async (key: string) => {
      this.duringReconcile.set(key, []);
      try {
        return await this.reconciler.reconcile(key);
      } finally {
        const events = this.duringReconcile.get(key) ?? [];
        this.duringReconcile.delete(key);
        let news = false;
        for (const obj of events) if (!this.echoes.isEcho(obj)) news = true; // each echo seen, so forgotten
        if (news) this.queue.add(key);
      }
    };
    for (let i = 0; i < this.opts.concurrency; i++) {
      this.workers.push(runWorker({ queue: this.queue, reconcile, metrics: this.opts.metrics, log: this.opts.log, blockedBackoff: this.opts.blockedBackoff ?? BLOCKED_BACKOFF }));
    }
    this.every(this.opts.monitoringCheckIntervalMs, () => this.syncOwnedKinds().catch((err: unknown) => this.opts.log.warn({ err: String(err) }, 'discovery failed')));
    // Level-triggered safety net: every object is looked at again now and then.
    this.every(this.opts.resyncIntervalMs, () => this.enqueueAll());
    for (const r of this.runnables) r.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearInterval(t);
    this.queue.shutdown();
    await Promise.all([...this.workers, ...this.runnables.map((r) => r.stop())]);
    this.qwenServices.stop();
    this.pods.stop();
    this.ownedCaches.stop();
  }

  /** One cache of a kind: one informer per watched namespace (or one for all), read as one. */
  private cache(target: InformerTarget): InformerGroup {
    const namespaces = this.opts.namespaces.length ? this.opts.namespaces : [undefined];
    return new InformerGroup(namespaces.map((ns) => new Informer(this.opts.client, { ...target, namespace: ns }, this.opts.log)));
  }

  /** An event enqueues its QwenService (`ownerKey`), unless it echoes our own write; judged after a reconcile in progress. */
  private enqueueOwner(ownerKey: (obj: KubeObject) => string | undefined): InformerHandler {
    return (e, obj) => {
      const key = ownerKey(obj);
      if (!key) return;
      if (e === 'delete') return this.queue.add(key);
      const pending = this.duringReconcile.get(key);
      if (pending) pending.push(obj);
      else if (!this.echoes.isEcho(obj)) this.queue.add(key);
    };
  }

  private async syncOwnedKinds(): Promise<void> {
    const { started, monitoringServed } = await this.ownedCaches.sync();
    this.opts.metrics.monitoringServed.set(monitoringServed ? 1 : 0);
    // An optional kind (prometheus-operator's, KEDA's ScaledObject) that appears changes what is rendered.
    if (started.some((k) => k.monitoring || k.optional) && this.running) {
      this.opts.log.info({ kinds: started.map((k) => k.kind) }, 'optional kinds now served; reconciling every QwenService');
      this.enqueueAll();
    }
  }

  private enqueueAll(): void {
    for (const q of this.qwenServices.list()) this.queue.add(objectKey(q));
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
