// spec.tenants as the router's flags: the tenants' limits as one JSON word (--tenants), the router
// replicas that share them (--replicas), the workers' sequences (--worker-parallel: the slots the
// router's fair queue fills), and the TTFT objective that priorities defend
// (--ttft-objective). Pure; the router renderer (render/router.ts) appends them to its container args.
import type { Plan } from '../plan/index.ts';
import { ROUTER_FLAG, ROUTER_DEFAULT, type TenantLimits } from '../../router/src/contract.ts';

/** The tightest TTFT threshold of the SLA (seconds): the wait the router's priorities defend. */
export function ttftObjectiveSeconds(plan: Plan): number | undefined {
  const ts = plan.sla.slos.filter((s) => s.kind === 'ttft' && s.threshold !== undefined).map((s) => s.threshold!);
  return ts.length ? Math.min(...ts) : undefined;
}

/** The router's tenant flags of a plan (none without spec.tenants). */
export function tenantsArg(plan: Plan): string[] {
  const { qs } = plan;
  const flags: string[] = [];
  const list = qs.spec.tenants ?? [];
  if (list.length) {
    const json: Record<string, TenantLimits> = {};
    for (const t of list) {
      json[t.name] = {
        priority: t.priority,
        ...(t.requestsPerMinute !== undefined ? { requestsPerMinute: t.requestsPerMinute } : {}),
        ...(t.tokensPerMinute !== undefined ? { tokensPerMinute: t.tokensPerMinute } : {}),
        ...(t.maxConcurrent !== undefined ? { maxConcurrent: t.maxConcurrent } : {}),
      };
    }
    flags.push(`--${ROUTER_FLAG.tenants}=${JSON.stringify(json)}`);
    const replicas = qs.spec.router?.replicas ?? ROUTER_DEFAULT.replicas;
    flags.push(`--${ROUTER_FLAG.replicas}=${replicas}`, `--${ROUTER_FLAG.workerParallel}=${qs.spec.model.parallel}`);
    // Priorities defend the TTFT objective between declared tenants; without tenants nobody is shed.
    const ttft = ttftObjectiveSeconds(plan);
    if (ttft !== undefined) flags.push(`--${ROUTER_FLAG.ttftObjective}=${ttft}`);
  }
  return flags;
}
