// Runs the operator in-process against a test cluster, counting every write it sends, so tests
// can assert convergence and "zero writes at rest".
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../../src/kube/client.ts';
import { Manager, type SizingOptions } from '../../src/controller/manager.ts';
import { operatorMetrics, type OperatorMetrics } from '../../src/controller/metrics.ts';
import { defaultRenderConfig, type RenderConfig } from '../../src/render/common.ts';
import type { TenantLimits } from '../../src/controller/tenant-limits.ts';

export type RunningOperator = { manager: Manager; client: KubeClient; metrics: OperatorMetrics; writes: string[]; stop(): Promise<void> };

export async function startOperator(kubeconfigPath: string, opts: { namespaces?: string[]; monitoringCheckIntervalMs?: number; resyncIntervalMs?: number; config?: Partial<RenderConfig>; limits?: TenantLimits; sizing?: SizingOptions } = {}): Promise<RunningOperator> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const client = new KubeClient(kc);
  const writes: string[] = [];
  client.onWrite = (verb, kind) => writes.push(`${verb} ${kind}`);
  const metrics = operatorMetrics();
  const manager = new Manager({
    client,
    config: { ...defaultRenderConfig, workerImage: 'qwen-worker:test', ...opts.config },
    log: pino({ level: process.env.QWEN_TEST_LOG ?? 'silent' }),
    metrics,
    namespaces: opts.namespaces ?? [],
    concurrency: 4,
    monitoringCheckIntervalMs: opts.monitoringCheckIntervalMs ?? 1_000,
    resyncIntervalMs: opts.resyncIntervalMs ?? 600_000,
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.sizing ? { sizing: opts.sizing } : {}),
  });
  await manager.start();
  return { manager, client, metrics, writes, stop: () => manager.stop() };
}
