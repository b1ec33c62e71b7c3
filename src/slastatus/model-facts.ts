// The model facts the workers report (worker/src/model-facts.ts: `gen_ai_server_model_info` and
// `gen_ai_server_model_fact`, names and facts from worker/src/contract.ts), read from Prometheus for
// the QwenServices whose status.model is not known yet: pvc:// and file:// sources, whose file the
// operator cannot read, or a head whose read failed. They go to the sizing header cache (through the manager), and the reconciler, which owns
// status.model and SLAFeasible, sizes from them; this loop writes nothing itself.
//   The series are input from pods: every value is checked (positive whole numbers, a plain
// architecture name), and the workers of one QwenService must agree. For a pvc:// or file://
// source only the workers that loaded a file of its name count: during a rollout to another model
// the old workers still report the old one, whose facts must not be taken for the new source's
// (status.model keeps them). Workers that disagree all the same report nothing until they agree.
import type { Logger } from 'pino';
import { redactModelSource } from '../api/model-source.ts';
import type { QwenService } from '../api/qwenservice.ts';
import type { Cache } from '../controller/informer.ts';
import { matcher, selector, targetOf } from '../sla/sli.ts';
import { METRIC, MODEL_FACT_NAMES, type ModelFacts } from '../../worker/src/contract.ts';
import type { PrometheusClient, Sample } from './prometheus.ts';

const MODEL_INFO_METRIC = METRIC.modelInfo;
const MODEL_FACT_METRIC = METRIC.modelFact;

/** Where the facts go: the manager's `reportModelFacts`. */
export type ModelFactsSink = (key: string, source: string, sha256: string | undefined, facts: ModelFacts) => void;

const { required: REQUIRED, optional: OPTIONAL } = MODEL_FACT_NAMES;

/** Both series of one QwenService's workers. */
export function modelFactsQuery(qs: QwenService): string {
  return selector(targetOf(qs), matcher('__name__', '=~', `${MODEL_INFO_METRIC}|${MODEL_FACT_METRIC}`));
}

export type ParsedFacts = { facts: ModelFacts } | { problem: string };

/** One worker's facts from its series; a problem names what is missing or not a fact. */
function factsOfPod(pod: string, samples: Sample[]): ParsedFacts {
  const info = samples.filter((s) => s.metric.__name__ === MODEL_INFO_METRIC && s.value === 1);
  if (info.length !== 1) return { problem: `${pod}: ${info.length} ${MODEL_INFO_METRIC} series (expected 1)` };
  const { architecture, quantization } = info[0]!.metric;
  if (!architecture || !/^[\w.-]{1,64}$/.test(architecture)) return { problem: `${pod}: architecture ${JSON.stringify(architecture ?? '')} is not a name` };
  if (!quantization || !/^[\w.-]{1,64}$/.test(quantization)) return { problem: `${pod}: quantization ${JSON.stringify(quantization ?? '')} is not a name` };
  const numbers = new Map<string, number>();
  for (const s of samples) if (s.metric.__name__ === MODEL_FACT_METRIC && s.metric.fact) numbers.set(s.metric.fact, s.value);
  const facts: Record<string, unknown> = { architecture, quantization };
  for (const name of [...REQUIRED, ...OPTIONAL]) {
    const v = numbers.get(name);
    if (v === undefined && (OPTIONAL as readonly string[]).includes(name)) continue;
    if (v === undefined || !Number.isSafeInteger(v) || v <= 0) return { problem: `${pod}: fact ${name} is ${v === undefined ? 'missing' : `${v}, not a positive whole number`}` };
    facts[name] = v;
  }
  return { facts: facts as ModelFacts };
}

/** The name of the file a pvc:// or file:// source names (what the worker loads); none for other sources. */
export function sourceFileName(source: string): string | undefined {
  return /^(?:pvc|file):\/\/.*\/([^/]+)$/.exec(source)?.[1];
}

/**
 * The facts all workers of a QwenService report alike — only those that loaded a file named
 * `file`, when given; `undefined` when none report any.
 */
export function parseModelFacts(samples: Sample[], file?: string): ParsedFacts | undefined {
  const byPod = new Map<string, Sample[]>();
  for (const s of samples) {
    const pod = s.metric.pod ?? s.metric.instance ?? '';
    byPod.set(pod, [...(byPod.get(pod) ?? []), s]);
  }
  const loaded = (series: Sample[]) => series.some((s) => s.metric.__name__ === MODEL_INFO_METRIC && s.metric.file === file);
  const pods = [...byPod].filter(([, series]) => file === undefined || loaded(series));
  if (!pods.length) return undefined;
  let agreed: ModelFacts | undefined;
  for (const [pod, series] of pods.sort((a, b) => a[0].localeCompare(b[0]))) {
    const parsed = factsOfPod(pod || 'a worker', series);
    if ('problem' in parsed) return parsed;
    if (agreed && JSON.stringify(agreed) !== JSON.stringify(parsed.facts)) return { problem: 'the workers report different models (a rollout in progress?)' };
    agreed = parsed.facts;
  }
  return { facts: agreed! };
}

/** Whether the reconciler still lacks this QwenService's facts (status.model absent, or of another source). */
function wantsFacts(qs: QwenService): boolean {
  return qs.status?.model?.source !== redactModelSource(qs.spec.model.source);
}

/**
 * One pass: for each QwenService lacking its facts, reads its workers' and hands them to `sink`.
 * Prometheus being unreachable is left to the SLA status (it says so); here the pass just ends.
 */
export async function readWorkerModelFacts(o: { prometheus: PrometheusClient; qwenServices: Cache; sink: ModelFactsSink; log: Logger }): Promise<number> {
  let reported = 0;
  const wanting = o.qwenServices.list().map((x) => x as unknown as QwenService)
    .filter((q) => q.spec?.model?.source && !(q.metadata as { deletionTimestamp?: string }).deletionTimestamp && wantsFacts(q));
  for (const qs of wanting) {
    const key = `${qs.metadata.namespace}/${qs.metadata.name}`;
    const parsed = parseModelFacts(await o.prometheus.query(modelFactsQuery(qs)), sourceFileName(qs.spec.model.source));
    if (!parsed) continue;
    if ('problem' in parsed) {
      o.log.debug({ qwenservice: key, problem: parsed.problem }, 'model facts reported by the workers not used');
      continue;
    }
    o.sink(key, qs.spec.model.source, qs.spec.model.sha256, parsed.facts);
    reported++;
  }
  return reported;
}
