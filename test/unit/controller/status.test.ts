import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { computeStatus, invalidSpecStatus, reconcilerOwnedStatus } from '../../../src/controller/status.ts';
import { diagnosePods } from '../../../src/controller/diagnose.ts';
import { defaultRenderConfig, type KubeObject } from '../../../src/render/common.ts';
import { resolvePlan } from '../../../src/plan/index.ts';

const qs = (spec: Record<string, unknown> = {}, status?: unknown) =>
  parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', generation: 3 }, spec: { replicas: 2, gpu: { count: 1, product: 'NVIDIA-L4' }, ...spec }, ...(status ? { status } : {}) });

const pod = (name: string, status: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team-a' }, status });
const deployment = (st: Record<string, number>): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'chat', generation: 1 }, status: { observedGeneration: 1, ...st } });
const cond = (s: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> }, type: string) => s.conditions!.find((c) => c.type === type)!;

const unschedulableGpu = pod('chat-1', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn\'t match Pod\'s node affinity/selector.' }] });

describe('diagnosePods', () => {
  it('names a GPU shortfall with the scheduler\'s words', () => {
    const d = diagnosePods([unschedulableGpu], { count: 2, product: 'NVIDIA-L4' })!;
    expect(d.reason).toBe('WaitingForGPU');
    expect(d.message).toContain('needs 2 nvidia.com/gpu per worker (product NVIDIA-L4)');
    expect(d.message).toContain('1 Insufficient nvidia.com/gpu');
  });
  it('reads image pull, OOM, model load and crash loops from container states', () => {
    const cs = (state: unknown, lastState: unknown = {}) => pod('p', { phase: 'Running', containerStatuses: [{ name: 'worker', ready: false, restartCount: 3, state, lastState }] });
    expect(diagnosePods([cs({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } })], { count: 1 })!.reason).toBe('ImagePullBackOff');
    expect(diagnosePods([cs({ waiting: { reason: 'CrashLoopBackOff' } }, { terminated: { reason: 'OOMKilled', exitCode: 137 } })], { count: 1 })!.reason).toBe('OOMKilled');
    expect(diagnosePods([cs({ waiting: { reason: 'CrashLoopBackOff' } }, { terminated: { reason: 'Error', exitCode: 1, message: 'model download stalled: no byte for 60s' } })], { count: 1 })).toMatchObject({ reason: 'ModelLoadFailed', message: expect.stringContaining('no byte for 60s') });
    expect(diagnosePods([cs({ waiting: { reason: 'CrashLoopBackOff' } }, { terminated: { reason: 'Error', exitCode: 2 } })], { count: 1 })!.reason).toBe('CrashLoopBackOff');
    expect(diagnosePods([cs({ running: {} })], { count: 1 })).toMatchObject({ reason: 'ModelDownloading', failure: false });
  });
});

describe('computeStatus', () => {
  const observe = (over: Record<string, unknown> = {}) => ({ pods: [], missingMonitoringKinds: [], monitoringRequested: false, ...over });

  it('says OwnershipConflict or ApplyFailed before anything the pods say, and is not Ready', () => {
    const blocked = { reason: 'OwnershipConflict' as const, message: 'Service team-a/chat already exists and is not controlled by any owner, not this QwenService' };
    const s = computeStatus(resolvePlan(qs(), defaultRenderConfig), observe({ deployment: deployment({ replicas: 2, readyReplicas: 2, updatedReplicas: 2 }), blocked }), 'now');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'OwnershipConflict', message: blocked.message });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'OwnershipConflict' });
    const refused = computeStatus(resolvePlan(qs(), defaultRenderConfig), observe({ pods: [unschedulableGpu], blocked: { reason: 'ApplyFailed', message: 'the apiserver refused Deployment team-a/chat: denied' } }), 'now');
    expect(cond(refused, 'Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed', message: 'the apiserver refused Deployment team-a/chat: denied' });
    expect(cond(refused, 'Progressing')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
  });

  it('is Ready when every worker is ready', () => {
    const s = computeStatus(resolvePlan(qs(), defaultRenderConfig), observe({ deployment: deployment({ replicas: 2, readyReplicas: 2, updatedReplicas: 2 }) }), 'now');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'AllWorkersReady' });
    expect(cond(s, 'ModelReady').status).toBe('True');
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'Complete' });
    expect(s).toMatchObject({ observedGeneration: 3, replicas: 2, readyReplicas: 2, endpoint: 'http://chat.team-a.svc:8080/v1' });
    expect(s.selector).toBe('app.kubernetes.io/name=qwen-worker,app.kubernetes.io/instance=chat');
  });

  // A presigned URL's signature (query) and userinfo are credentials: status is read more widely
  // than spec, and every condition becomes an Event.
  it.each([
    ['https://bucket.s3.example.com/m/qwen.gguf?X-Amz-Credential=AKIA&X-Amz-Signature=deadbeef#frag', 'https://bucket.s3.example.com/m/qwen.gguf'],
    ['https://user:hunter2@models.example.com/qwen.gguf', 'https://models.example.com/qwen.gguf'],
    ['hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M', 'hf:unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M'],
    ['pvc://models/qwen/q4.gguf', 'pvc://models/qwen/q4.gguf'],
  ])('ModelReady names the model source %s without credentials', (source, shown) => {
    const s = computeStatus(resolvePlan(qs({ model: { source } }), defaultRenderConfig), observe({ deployment: deployment({ replicas: 2, readyReplicas: 2, updatedReplicas: 2 }) }), 'now');
    expect(cond(s, 'ModelReady')).toMatchObject({ status: 'True', message: `${shown} is loaded and serving` });
    expect(JSON.stringify(s)).not.toMatch(/hunter2|deadbeef|AKIA|frag/);
  });

  it('says WaitingForGPU, Degraded, stuck rollout', () => {
    const s = computeStatus(resolvePlan(qs(), defaultRenderConfig), observe({ deployment: deployment({ replicas: 2, readyReplicas: 1, updatedReplicas: 2 }), pods: [unschedulableGpu] }), 'now');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForGPU' });
    expect(cond(s, 'Ready').message).toContain('1/2 workers ready');
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'WaitingForGPU' });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'WaitingForGPU' });
    expect(cond(s, 'ModelReady').status).toBe('True');
  });

  it('reports PrometheusOperatorMissing with the kinds', () => {
    const s = computeStatus(resolvePlan(qs(), defaultRenderConfig), observe({ monitoringRequested: true, missingMonitoringKinds: ['ServiceMonitor', 'PrometheusRule'] }), 'now');
    expect(cond(s, 'MonitoringReady')).toMatchObject({ status: 'False', reason: 'PrometheusOperatorMissing' });
    expect(cond(s, 'MonitoringReady').message).toContain('ServiceMonitor, PrometheusRule');
  });

  it('reports an invalid spec without reading it', () => {
    const stored = { metadata: { name: 'chat', namespace: 'team-a', generation: 4 } };
    const s = invalidSpecStatus(stored, 'spec.replicas: must be 0 or more', defaultRenderConfig, 'now');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'spec.replicas: must be 0 or more' });
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(s).toMatchObject({ observedGeneration: 4, replicas: 0, readyReplicas: 0, endpoint: 'http://chat.team-a.svc:8080/v1' });
  });

  it('is identical when recomputed from the same observations (no status churn)', () => {
    const o = observe({ deployment: deployment({ replicas: 2, readyReplicas: 2, updatedReplicas: 2 }) });
    const first = computeStatus(resolvePlan(qs(), defaultRenderConfig), o, 't1');
    const second = computeStatus(resolvePlan(qs({}, first), defaultRenderConfig), o, 't2');
    expect(second).toEqual(first);
  });

  it('leaves SLACompliant and status.sla to the SLA status loop (its own field manager)', () => {
    const previous = { conditions: [{ type: 'SLACompliant', status: 'True' as const, reason: 'WithinBudget', message: 'ok', lastTransitionTime: 't0' }], sla: { p95: '1.2s' } };
    const s = computeStatus(resolvePlan(qs({}, previous), defaultRenderConfig), observe(), 't1');
    expect(s.conditions!.map((c) => c.type)).not.toContain('SLACompliant');
    expect(s.sla).toBeUndefined();
    // ...and what the loop wrote does not make the reconciler's status look changed.
    const stored = { ...s, sla: { p95: '1.2s' }, conditions: [...s.conditions!, previous.conditions[0]!] };
    expect(reconcilerOwnedStatus(stored)).toEqual(s);
  });
});

describe('diagnosePods with a GPU product no node has', () => {
  it('still says WaitingForGPU when the scheduler only mentions node affinity', () => {
    const p = pod('p', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." }] });
    expect(diagnosePods([p], { count: 1, product: 'NVIDIA-H100' })!.reason).toBe('WaitingForGPU');
    expect(diagnosePods([p], { count: 0 })!.reason).toBe('Unschedulable');
  });
});
