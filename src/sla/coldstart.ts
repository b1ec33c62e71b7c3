// `render --explain` with a router and minReplicas 0: how much of the TTFT budget one cold start
// spends. A request that arrives while no worker runs is held by the router through KEDA's
// activation, the pod's start and the model's load before its first token: one bad TTFT event
// (and one bad latency event when the cold start outlasts the latency threshold). The figures are
// estimates with stated assumptions, never measurements. Pure.
import { formatDuration, formatPercent, formatSeconds } from '../api/units.ts';
import type { Slo } from './slos.ts';

/** KEDA's activation through the router's external-push trigger: the push arrives at once, KEDA scales 0 -> 1 on it. */
export const ACTIVATION_SECONDS = 1;
/** Scheduling and container start on a node that has the image (an image pull comes on top, unknown here). */
export const POD_START_SECONDS = 5;
/** Assumed read rate of a model file already on a volume (pvc:// source or a model cache PVC): a network block volume. */
export const DISK_READ_BYTES_PER_SECOND = 500e6;
/** Assumed download rate of a model fetched at every start (hf:/https: source, emptyDir model cache): about 1 Gbit/s. */
export const DOWNLOAD_BYTES_PER_SECOND = 100e6;

export type ColdStartInput = {
  /** The GGUF file's size in bytes, when the model's header is known. */
  modelBytes?: number;
  /** Whether the file is on a volume at start (pvc:// source or a model cache PVC) or downloaded every time. */
  modelOnVolume: boolean;
  /** The SLA's SLOs (the TTFT and latency ones are compared with the cold start). */
  slos: Slo[];
  /** Seconds without requests after which the workers scale to zero. */
  scaleToZeroAfter: number;
  /** How long the router holds a request for a worker (seconds). */
  holdTimeout: number;
};

export type ColdStart = {
  /** Seconds to a ready worker, the model load included; undefined while the model's size is unknown. */
  seconds?: number;
  /** Seconds known without the model load (activation + pod start). */
  withoutLoad: number;
  /** Model load estimate (seconds), when the size is known. */
  load?: number;
};

export function coldStart(i: ColdStartInput): ColdStart {
  const withoutLoad = ACTIVATION_SECONDS + POD_START_SECONDS;
  if (i.modelBytes === undefined) return { withoutLoad };
  const load = i.modelBytes / (i.modelOnVolume ? DISK_READ_BYTES_PER_SECOND : DOWNLOAD_BYTES_PER_SECOND);
  return { seconds: withoutLoad + load, withoutLoad, load };
}

const secs = (s: number) => (s < 10 ? `${Number(s.toPrecision(2))} s` : formatSeconds(s));
const bytes = (b: number) => `${Number((b / 1e9).toPrecision(3))} GB`;

/** The cold start in words, one line each. */
export function explainColdStart(i: ColdStartInput): string[] {
  const c = coldStart(i);
  const rate = i.modelOnVolume
    ? `read from its volume at an assumed ${DISK_READ_BYTES_PER_SECOND / 1e6} MB/s`
    : `downloaded at every start (no model cache PVC) at an assumed ${DOWNLOAD_BYTES_PER_SECOND / 1e6} MB/s`;
  const lines = [
    `Cold start (router, minReplicas 0; the workers scale to zero after ${formatDuration(i.scaleToZeroAfter)} without requests):`,
    '  a request that arrives with no worker running is held by the router while one starts:',
    `    KEDA activation (the router's external-push trigger)  ~${secs(ACTIVATION_SECONDS)}`,
    `    pod start (scheduling, container start)               ~${secs(POD_START_SECONDS)}, plus the image pull where the node lacks the image: unknown`,
    c.load === undefined
      ? '    model load                                            unknown: the model\'s size is not known (give --model-file, or see status.model)'
      : `    model load: ${bytes(i.modelBytes!)} ${rate}  ~${secs(c.load)}`,
    '    then the first token: a warm worker\'s prefill of the request',
  ];
  const total = c.seconds ?? c.withoutLoad;
  const approx = c.seconds === undefined ? `at least ${secs(total)} (without the model load)` : `~${secs(total)}`;
  lines.push(`  one cold start takes ${approx} before the first token${total > i.holdTimeout ? `, longer than the router's holdTimeout (${formatDuration(i.holdTimeout)}): the held request gets 503 instead` : ''}.`);
  const compared = i.slos.filter((s) => (s.kind === 'ttft' || s.kind === 'latency') && s.threshold !== undefined && s.threshold < total);
  if (!compared.length) {
    lines.push('  no TTFT or latency objective is shorter than that: a cold start alone spends no budget.');
    return lines;
  }
  for (const s of compared) {
    const times = Number((total / s.threshold!).toPrecision(2));
    lines.push(`  ${s.name}: one cold start ${c.seconds === undefined ? '>' : '≈'} ${times}x the ${secs(s.threshold!)} threshold: every request held through it is one bad event.`);
  }
  const budget = Math.min(...compared.map((s) => s.budget));
  const perColdStart = Math.ceil(1 / budget);
  lines.push(
    `  the tightest of them allows ${formatPercent(budget)} bad requests: at most ${formatPercent(budget)} of requests may arrive cold, so each burst of traffic`,
    `  after ${formatDuration(i.scaleToZeroAfter)} of silence must bring at least ${perColdStart} requests (1 / ${formatPercent(budget)}) for each one held through the cold start;`,
    '  sparser traffic spends the budget',
    '  (raise scaleToZeroAfter, or keep minReplicas 1 where that matters more than the GPU).',
  );
  return lines;
}
