// Waits until a QwenService on the test cluster shows a condition with the given status and reason.
import { get, waitFor, type KubeObject } from '../cluster/client.ts';
import { testCluster } from '../cluster/testing.ts';

export type Condition = { type: string; status: string; reason: string; message: string };

export async function waitCondition(namespace: string, name: string, type: string, status: string, reason: string, timeoutMs = 60_000): Promise<Condition> {
  return waitFor(`${name} ${type}=${status}/${reason}`, async () => {
    const qws = await get<KubeObject & { status?: { conditions?: Condition[] } }>(testCluster(), 'qwenops.io/v1alpha1', 'QwenService', name, namespace);
    const c = qws?.status?.conditions?.find((x) => x.type === type);
    return c?.status === status && c.reason === reason ? c : undefined;
  }, timeoutMs, 250);
}
