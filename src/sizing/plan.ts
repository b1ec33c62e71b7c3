// What sizing contributes to one reconcile, computed once from the QwenService and what is known
// of its model's head: the SLAFeasible condition, status.model, and the worker's default memory.
// Pure. The facts come from the header cache, else from status.model as last written for the same
// source (so an operator restart, whose cache is empty, renders the same memory as before).
import { redactModelSource } from '../api/model-source.ts';
import type { QwenService, QwenServiceStatus } from '../api/qwenservice.ts';
import { ConditionType, Reason } from '../conventions.ts';
import type { ConditionInput } from '../kube/conditions.ts';
import type { ModelFacts } from './facts.ts';
import { RUNTIME_OVERHEAD_BYTES } from './estimate.ts';
import { assess, hardwareOf, sizingSpec, type Sizing } from './feasibility.ts';
import type { HeaderState } from './header-cache.ts';

export type ModelStatus = NonNullable<QwenServiceStatus['model']>;

export type SizingPlan = {
  condition: ConditionInput;
  model?: ModelStatus;
  /** Memory request and limit of the worker container (a quantity) when the spec sets none. */
  workerMemory?: string;
  sizing?: Sizing;
};

const MiB = 1024 * 1024;

export function modelStatus(source: string, facts: ModelFacts): ModelStatus {
  return { source: redactModelSource(source), ...facts };
}

function factsOf(status: ModelStatus): ModelFacts {
  const { source: _source, ...facts } = status;
  return facts;
}

/**
 * The worker's memory: on the CPU everything (weights, KV cache, buffers, the process); on a GPU
 * only what stays in host memory (the process and the logits handed back), the rest being on
 * the device. Rounded up to whole MiB.
 */
export function workerMemoryBytes(s: Sizing): number {
  const bytes = s.spec.gpuCount === 0 ? s.estimate.host : RUNTIME_OVERHEAD_BYTES + s.estimate.output;
  return Math.ceil(bytes / MiB) * MiB;
}

function specSetsMemory(qs: QwenService): boolean {
  const r = qs.spec.resources;
  return r?.requests?.memory !== undefined || r?.limits?.memory !== undefined;
}

export function planSizing(qs: QwenService, header: HeaderState | undefined, cpuBandwidthGBps: number): SizingPlan {
  const condition = (status: ConditionInput['status'], reason: string, message: string): ConditionInput => ({ type: ConditionType.SLAFeasible, status, reason, message });
  const source = qs.spec.model.source;
  const persisted = qs.status?.model?.source === redactModelSource(source) ? qs.status.model : undefined;
  const facts = header?.state === 'read' ? header.facts : persisted ? factsOf(persisted) : undefined;
  if (!facts) {
    if (header?.state === 'failed') return { condition: condition('Unknown', Reason.ModelHeaderUnreadable, `cannot read the model's GGUF header: ${header.error}`) };
    if (header?.state === 'unavailable') return { condition: condition('Unknown', Reason.ModelHeaderUnavailable, header.why) };
    return { condition: condition('Unknown', Reason.ReadingModelHeader, `reading the GGUF header of ${redactModelSource(source)}`) };
  }
  const spec = sizingSpec(qs);
  const sizing = assess(facts, spec, hardwareOf(spec, cpuBandwidthGBps));
  return {
    condition: condition(sizing.feasibility.status, sizing.feasibility.reason, sizing.feasibility.message),
    model: modelStatus(source, facts),
    ...(specSetsMemory(qs) ? {} : { workerMemory: `${workerMemoryBytes(sizing) / MiB}Mi` }),
    sizing,
  };
}
