// Jest globalTeardown of the 'integration' project: stops the control plane globalSetup started.
import type { Cluster } from './cluster.ts';

declare global {
  var __QWEN_TEST_CLUSTER__: Cluster | undefined;
}

export default async function globalTeardown(): Promise<void> {
  const cluster = globalThis.__QWEN_TEST_CLUSTER__;
  if (!cluster) return;
  globalThis.__QWEN_TEST_CLUSTER__ = undefined;
  await cluster.stop();
  delete process.env.QWEN_TEST_CLUSTER;
}
