// The tenants' policy at one router replica (docs/tenants.md): admission — maxConcurrent, the
// requests and tokens buckets, and priority when the TTFT objective is at risk — then dispatch in
// a fair order, and the refund when the answer ends. Each replica enforces 1/replicas of every
// limit and of the workers' slots: no shared store, the Service spreads clients over the replicas.
//
// Dispatch: with tenants declared, the router sends the workers at most their slots (ready workers
// × --worker-parallel, this replica's share) and queues the rest itself, so it decides who goes next:
// the best priority first, and within one priority the tenant whose virtual counter (tokens it was
// served) is lowest. A tenant coming back from idle starts at the lowest counter of the busy ones, so
// idle time is not banked.
//
// Priority: a new request's expected wait is the work ahead of it — requests running beyond the slots
// plus those queued with its priority or better, plus itself — divided by the slots and times the
// observed mean service time. Over BATCH_SHARE of the TTFT objective, Batch is refused; over the
// objective, Standard too; Critical never (it only queues, first).
import { DEFAULT_TENANT, type REFUSAL_REASONS, TENANT_PRIORITY, type TenantLimits } from '../contract.ts';
import { TokenBucket, formatReset } from './bucket.ts';
import type { Usage } from './usage.ts';

export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export type Priority = (typeof TENANT_PRIORITY)[number];
/** Batch is refused once the expected wait exceeds this share of the TTFT objective. */
export const BATCH_SHARE = 0.5;
/** Weight of the newest observation in the mean service time (an exponentially weighted mean). */
const SERVICE_EWMA = 0.2;

type TenantState = {
  name: string;
  priority: Priority;
  requests: TokenBucket | undefined;
  tokens: TokenBucket | undefined;
  maxConcurrent: number | undefined;
  /** Admitted and not finished (queued or running). */
  active: number;
  /** Tokens served (reserved at dispatch, corrected at the end): the fair order within a priority. */
  virtual: number;
};

export type Ticket = {
  tenant: string;
  reservedTokens: number;
  promptEstimate: number;
  seq: number;
  dispatchedAt?: number;
  finished?: boolean;
};

export type Admission =
  | { ok: true; ticket: Ticket; headers: Record<string, string> }
  | { ok: false; reason: RefusalReason; tenant: string; retryAfterS: number; message: string; type: string; headers: Record<string, string> };

export type DispatchOutcome = 'go' | 'timeout' | 'aborted' | 'drain';

type Queued = { ticket: Ticket; rank: number; resolve: (o: DispatchOutcome) => void };

export type TenantPolicyOptions = {
  tenants: Map<string, TenantLimits & { priority: Priority }>;
  replicas: number;
  ttftObjectiveS: number | undefined;
  workerParallel: number;
  readyWorkers: () => number;
  now?: () => number;
};

const rankOf = (p: Priority) => TENANT_PRIORITY.indexOf(p);
const share = (limit: number | undefined, replicas: number) => (limit === undefined ? undefined : Math.max(1, limit / replicas));

export class TenantPolicy {
  private readonly states = new Map<string, TenantState>();
  private readonly opts: TenantPolicyOptions;
  private readonly now: () => number;
  private queue: Queued[] = [];
  private running = 0;
  private seq = 0;
  /** Observed mean seconds from dispatch to the end of an answer; undefined until one ended. */
  meanServiceS: number | undefined;

  constructor(opts: TenantPolicyOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
    const t0 = this.now();
    const declared = new Map(opts.tenants);
    if (!declared.has(DEFAULT_TENANT)) declared.set(DEFAULT_TENANT, { priority: 'Standard' });
    for (const [name, l] of declared) {
      const rpm = share(l.requestsPerMinute, opts.replicas);
      const tpm = share(l.tokensPerMinute, opts.replicas);
      this.states.set(name, {
        name, priority: l.priority,
        requests: rpm === undefined ? undefined : new TokenBucket(rpm, t0),
        tokens: tpm === undefined ? undefined : new TokenBucket(tpm, t0),
        maxConcurrent: l.maxConcurrent === undefined ? undefined : Math.max(1, Math.ceil(l.maxConcurrent / opts.replicas)),
        active: 0, virtual: 0,
      });
    }
  }

  /** The declared tenants (the `tenant` label's values): a bounded set. */
  get names(): string[] { return [...this.states.keys()]; }

  /** A key's tenant as the policy and the metrics know it: undeclared ones are `default`. */
  tenantOf(name: string | undefined): string {
    return name !== undefined && this.states.has(name) ? name : DEFAULT_TENANT;
  }

  /** Requests sent to a worker and not finished; requests queued by this policy. */
  get load(): { running: number; queued: number } { return { running: this.running, queued: this.queue.length }; }

  /** This replica's share of the workers' sequences. */
  slots(): number {
    const ready = this.opts.readyWorkers();
    if (ready === 0) return 0;
    return Math.max(1, Math.floor((ready * this.opts.workerParallel) / this.opts.replicas));
  }

  /** Seconds a new request of `priority` would wait for a slot (0 when one is free or nothing is known yet). */
  expectedWaitS(priority: Priority): number {
    const slots = this.slots();
    if (slots === 0 || this.meanServiceS === undefined) return 0;
    const rank = rankOf(priority);
    const ahead = this.queue.filter((q) => q.rank <= rank).length;
    const beyond = this.running + ahead - slots + 1;
    return beyond <= 0 ? 0 : (beyond * this.meanServiceS) / slots;
  }

  /** The x-ratelimit-* headers of a tenant now (only for the limits it has). */
  headers(tenant: string): Record<string, string> {
    const s = this.states.get(tenant)!;
    const now = this.now();
    const h: Record<string, string> = {};
    for (const [what, b] of [['requests', s.requests], ['tokens', s.tokens]] as const) {
      if (!b) continue;
      h[`x-ratelimit-limit-${what}`] = String(Math.floor(b.capacity));
      h[`x-ratelimit-remaining-${what}`] = String(b.remaining(now));
      h[`x-ratelimit-reset-${what}`] = formatReset(b.resetMs(now));
    }
    return h;
  }

  /** Admits a request of `tenant` that may cost `estimate` tokens, or says why not and when to come back. */
  admit(tenantName: string, estimate: { prompt: number; completion: number }): Admission {
    const tenant = this.tenantOf(tenantName);
    const s = this.states.get(tenant)!;
    const now = this.now();
    const cost = estimate.prompt + estimate.completion;
    const refuse = (reason: RefusalReason, waitMs: number, message: string, type: string): Admission => {
      const headers = this.headers(tenant);
      return { ok: false, reason, tenant, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)), message, type, headers };
    };
    if (s.maxConcurrent !== undefined && s.active >= s.maxConcurrent) {
      return refuse('concurrency', 1000, `Rate limit reached for tenant ${tenant} on concurrent requests: Limit ${s.maxConcurrent} at this router replica. Please try again when one of them has finished.`, 'requests');
    }
    const rWait = s.requests?.waitMs(1, now) ?? 0;
    if (rWait > 0) {
      return refuse('requests', rWait, `Rate limit reached for tenant ${tenant} on requests per min (RPM): Limit ${Math.floor(s.requests!.capacity)}, Remaining ${s.requests!.remaining(now)}. Please try again in ${formatReset(rWait)}.`, 'requests');
    }
    const tWait = s.tokens?.waitMs(cost, now) ?? 0;
    if (tWait > 0) {
      return refuse('tokens', tWait, `Rate limit reached for tenant ${tenant} on tokens per min (TPM): Limit ${Math.floor(s.tokens!.capacity)}, Remaining ${s.tokens!.remaining(now)}, Requested ${cost} (prompt estimate + max_tokens; unused tokens are refunded). Please try again in ${formatReset(tWait)}.`, 'tokens');
    }
    const objective = this.opts.ttftObjectiveS;
    if (objective !== undefined && s.priority !== 'Critical') {
      const wait = this.expectedWaitS(s.priority);
      const allowed = s.priority === 'Batch' ? objective * BATCH_SHARE : objective;
      if (wait > allowed) {
        return refuse('priority', wait * 1000, `The service is busy: a ${s.priority} request of tenant ${tenant} would wait about ${wait.toFixed(1)}s, beyond the ${allowed}s its priority allows (TTFT objective ${objective}s). Please try again later.`, 'requests');
      }
    }
    s.requests?.take(1, now);
    s.tokens?.take(cost, now);
    if (s.active === 0) {
      const busy = [...this.states.values()].filter((o) => o.active > 0).map((o) => o.virtual);
      if (busy.length) s.virtual = Math.max(s.virtual, Math.min(...busy));
    }
    s.active++;
    return { ok: true, ticket: { tenant, reservedTokens: cost, promptEstimate: estimate.prompt, seq: this.seq++ }, headers: this.headers(tenant) };
  }

  /**
   * Waits for a slot: at once while fewer than slots() are running (or no worker is ready: the hold
   * queue takes it then), else in the fair order, until `timeoutMs`, `signal` or drain().
   */
  dispatch(ticket: Ticket, timeoutMs: number, signal: AbortSignal): Promise<DispatchOutcome> {
    if (signal.aborted) return Promise.resolve('aborted');
    const slots = this.slots();
    if (this.queue.length === 0 && (slots === 0 || this.running < slots)) { this.start(ticket); return Promise.resolve('go'); }
    const s = this.states.get(ticket.tenant)!;
    return new Promise<DispatchOutcome>((resolve) => {
      const done = (o: DispatchOutcome) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        resolve(o);
      };
      const entry: Queued = { ticket, rank: rankOf(s.priority), resolve: done };
      const onAbort = () => done('aborted');
      const timer = setTimeout(() => done('timeout'), Math.max(0, timeoutMs));
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.pump();
    });
  }

  private start(ticket: Ticket): void {
    ticket.dispatchedAt = this.now();
    this.running++;
    this.states.get(ticket.tenant)!.virtual += ticket.reservedTokens;
  }

  /** The queued request that goes next: best priority, then the lowest virtual counter, then arrival. */
  next(): Ticket | undefined {
    let best: Queued | undefined;
    for (const q of this.queue) {
      if (!best) { best = q; continue; }
      const vq = this.states.get(q.ticket.tenant)!.virtual;
      const vb = this.states.get(best.ticket.tenant)!.virtual;
      if (q.rank < best.rank || (q.rank === best.rank && (vq < vb || (vq === vb && q.ticket.seq < best.ticket.seq)))) best = q;
    }
    return best?.ticket;
  }

  /** Lets queued requests go while slots are free (called when one ends and when workers become ready). */
  pump(): void {
    for (;;) {
      const slots = this.slots();
      if (this.queue.length === 0 || (slots > 0 && this.running >= slots)) return;
      const t = this.next()!;
      const q = this.queue.find((e) => e.ticket === t)!;
      this.start(t);
      q.resolve('go');
    }
  }

  /**
   * The request ended: its tenant's tokens are refunded what it did not use (`usage`: the worker's
   * count; undefined keeps the reservation), its slot goes to the next, `served` (an answer that
   * completed) updates the mean service time.
   */
  finish(ticket: Ticket, usage: Usage | undefined, served: boolean): void {
    if (ticket.finished) return;
    ticket.finished = true;
    const s = this.states.get(ticket.tenant)!;
    const now = this.now();
    s.active--;
    if (ticket.dispatchedAt === undefined) s.tokens?.give(ticket.reservedTokens, now);
    else if (usage) {
      const over = ticket.reservedTokens - (usage.prompt + usage.completion);
      s.tokens?.give(over, now);
      s.virtual -= over;
    }
    if (ticket.dispatchedAt !== undefined) {
      this.running--;
      if (served) {
        const took = (now - ticket.dispatchedAt) / 1000;
        this.meanServiceS = this.meanServiceS === undefined ? took : this.meanServiceS + SERVICE_EWMA * (took - this.meanServiceS);
      }
    }
    this.pump();
  }

  /** Shutting down past the drain grace: every queued request is answered now. */
  drain(): void {
    for (const q of [...this.queue]) q.resolve('drain');
  }

  /** A tenant's counter (tests, logs). */
  virtualOf(tenant: string): number { return this.states.get(tenant)?.virtual ?? 0; }
}
