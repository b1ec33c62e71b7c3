// The live SLA status loop: every period, for each QwenService with an SLA, read its SLIs from
// Prometheus and write status.sla + the SLACompliant condition — only when a rounded value moved.
// It runs beside the reconcile workers and shares nothing with them but the informer cache:
// Prometheus being slow or down delays this loop (bounded by per-query timeouts), never a reconcile.
// Writes are server-side applies of the status subresource by their own field manager, holding
// only status.sla and the SLACompliant condition, so the reconciler's fields are never touched.
// Each cycle first reads the model facts the workers report (model-facts.ts), for the sizing of
// QwenServices whose model head the operator cannot read itself.
import type { Logger } from 'pino';
import { API_VERSION, KIND, type QwenService } from '../api/qwenservice.ts';
import { ConditionType, SLA_FIELD_MANAGER, eventTypeOf } from '../conventions.ts';
import type { Cache } from '../controller/informer.ts';
import type { EventRecorder } from '../controller/events.ts';
import { sameJson } from '../controller/compare.ts';
import type { KubeClient } from '../kube/client.ts';
import { conditionTime, mergeConditions, transitions, type Condition } from '../kube/conditions.ts';
import { namespaceOf } from '../kube/object.ts';
import { applyStatus } from '../kube/status.ts';
import { computeSla, type FiringAlert, type Measurement, type SlaReading, type SlaResult } from './compute.ts';
import { PrometheusClient, PrometheusUnreachableError } from './prometheus.ts';
import { readWorkerModelFacts, type ModelFactsSink } from './model-facts.ts';
import { planSla } from '../plan/index.ts';
import { firingAlertsQuery, p95Query, queriesFor } from './slos.ts';

export type SlaStatusOptions = {
  prometheus: PrometheusClient;
  client: KubeClient;
  qwenServices: Cache;
  events?: EventRecorder;
  log: Logger;
  intervalMs: number;
  /** Where the workers' model facts go (the manager's sizing); absent: they are not read. */
  modelFacts?: ModelFactsSink;
  /** QwenServices read at once (each issues a handful of queries). */
  concurrency?: number;
  now?: () => Date;
};

export type PollResult = { services: number; written: number; unreachable: boolean };

export class SlaStatusPoller {
  private readonly o: SlaStatusOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PollResult> | undefined;
  private stopped = false;

  constructor(opts: SlaStatusOptions) {
    this.o = opts;
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      // One cycle at a time: a slow Prometheus stretches the period instead of piling up queries.
      this.running = this.pollOnce().catch((err: unknown) => {
        this.o.log.warn({ err: String(err) }, 'SLA status cycle failed');
        return { services: 0, written: 0, unreachable: false };
      });
      void this.running.finally(() => {
        this.running = undefined;
        if (!this.stopped) { this.timer = setTimeout(tick, this.o.intervalMs); this.timer.unref(); }
      });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every QwenService with an SLA. */
  async pollOnce(): Promise<PollResult> {
    if (this.o.modelFacts) {
      await readWorkerModelFacts({ prometheus: this.o.prometheus, qwenServices: this.o.qwenServices, sink: this.o.modelFacts, log: this.o.log })
        .catch((err: unknown) => this.o.log.debug({ err: String(err) }, 'model facts not read'));
    }
    const targets = this.o.qwenServices.list().map((o) => o as unknown as QwenService).filter((q) => q.spec?.sla && !(q.metadata as { deletionTimestamp?: string }).deletionTimestamp);
    let written = 0;
    let unreachable = false;
    const queue = [...targets];
    const worker = async () => {
      for (let qs = queue.shift(); qs; qs = queue.shift()) {
        try {
          const reading = await this.read(qs);
          if (!reading.reachable) unreachable = true;
          if (await this.write(qs, reading)) written++;
        } catch (err) {
          this.o.log.warn({ qwenservice: `${qs.metadata.namespace}/${qs.metadata.name}`, err: String(err) }, 'SLA status not updated');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 2, targets.length) }, worker));
    return { services: targets.length, written, unreachable };
  }

  /** Reads every SLO of one QwenService; an unreachable Prometheus is a reading, not an error. */
  async read(qs: QwenService): Promise<SlaReading> {
    const prom = this.o.prometheus;
    const one = async (expr: string) => (await prom.query(expr))[0]?.value;
    // The SLOs as the plan resolves them: the ones the alerts and the rules were compiled from.
    const { window, slos } = planSla(qs);
    try {
      const measurements: Measurement[] = [];
      for (const slo of slos) {
        const w = queriesFor(qs, slo, window);
        const h = queriesFor(qs, slo, 3600);
        const [badRatio, events, display, badRatio1h, events1h, display1h] = await Promise.all([
          one(w.badRatio), one(w.events), one(w.display), one(h.badRatio), one(h.events), one(h.display),
        ]);
        measurements.push({ slo, badRatio, events, display, badRatio1h, events1h, display1h });
      }
      const [alerts, p95] = await Promise.all([prom.query(firingAlertsQuery(qs)), one(p95Query(qs))]);
      const firing: FiringAlert[] = alerts.map((a) => ({ slo: a.metric.slo ?? '?', severity: a.metric.severity ?? '?' }));
      return { reachable: true, measurements, firing, ...(p95 !== undefined ? { p95 } : {}) };
    } catch (err) {
      if (err instanceof PrometheusUnreachableError) return { reachable: false, error: err.message };
      throw err;
    }
  }

  /** Applies status.sla + SLACompliant when they differ from what the cache holds; true when written. */
  async write(qs: QwenService, reading: SlaReading): Promise<boolean> {
    const current = (this.o.qwenServices.get(qs.metadata.namespace, qs.metadata.name) as unknown as QwenService | undefined) ?? qs;
    const previous = current.status?.conditions;
    const previousCondition = previous?.find((c) => c.type === ConditionType.SLACompliant);
    const result: SlaResult = computeSla(current, reading, current.status?.sla);
    const generation = (current.metadata as { generation?: number }).generation;
    const [condition] = mergeConditions(previous, [result.condition], generation, conditionTime(this.o.now?.() ?? new Date())) as [Condition];
    if (previousCondition && sameJson(condition, previousCondition) && sameJson(result.sla, current.status?.sla ?? {})) return false;
    const target = { apiVersion: API_VERSION, kind: KIND, name: current.metadata.name, namespace: namespaceOf(current) };
    await applyStatus(this.o.client, target, { conditions: [condition], sla: result.sla }, SLA_FIELD_MANAGER);
    const key = `${current.metadata.namespace}/${current.metadata.name}`;
    if (transitions(previous, [condition]).length) {
      this.o.log.info({ qwenservice: key, status: condition.status, reason: condition.reason, message: condition.message }, 'SLACompliant changed');
      await this.o.events?.record(current as unknown as { metadata: { name: string; namespace?: string; uid?: string } }, eventTypeOf(condition.reason) ?? 'Normal', condition.reason, condition.message)
        .catch((err: unknown) => this.o.log.warn({ err: String(err) }, 'could not record event'));
    } else {
      this.o.log.debug({ qwenservice: key, sla: result.sla }, 'SLA status updated');
    }
    return true;
  }
}

export function slaStatusPoller(opts: Omit<SlaStatusOptions, 'prometheus'> & { prometheusURL: string; timeoutMs?: number }): SlaStatusPoller {
  return new SlaStatusPoller({ ...opts, prometheus: new PrometheusClient(opts.prometheusURL, { timeoutMs: opts.timeoutMs ?? 5_000 }) });
}
