// `qwen-operator size`: before deploying, whether a QwenService's model fits a GPU and how fast it
// can decode there (src/sizing/), for one GPU product or every one the operator knows, and the
// CPU. The model's head is read from a local GGUF (--model-file) or from the source itself
// (hf:, https:) with range requests — the same reading and arithmetic the operator's SLAFeasible
// condition uses.
import { redactModelSource } from '../api/model-source.ts';
import type { QwenService } from '../api/qwenservice.ts';
import { validateYaml } from '../api/validate.ts';
import { namespaceOf } from '../render/common.ts';
import type { ModelFacts } from '../sizing/facts.ts';
import { assess, DEFAULT_CPU_BANDWIDTH_GBPS, explainSizing, gib, hardwareOf, sizingSpec, type Sizing } from '../sizing/feasibility.ts';
import { findGpu, GPU_PRODUCTS, USABLE_MEMORY } from '../sizing/gpus.ts';
import { readLocalFacts } from '../sizing/local.ts';
import { readRemoteFacts, sourceURL } from '../sizing/remote.ts';
import { CliError, parseOptions, readInput, type Command } from './command.ts';

const OUTPUTS = ['text', 'json'] as const;

/** The model's facts: from the local file when given, else from the source's head. */
export async function factsFor(qs: QwenService, modelFile: string | undefined): Promise<ModelFacts> {
  const where = modelFile ?? redactModelSource(qs.spec.model.source);
  try {
    if (modelFile) return await readLocalFacts(modelFile);
    const url = sourceURL(qs.spec.model.source);
    if (!url) throw new Error(`${where} is not readable from here (only hf: and https: sources are); pass the GGUF with --model-file`);
    return await readRemoteFacts(url);
  } catch (err) {
    throw new CliError(`cannot read the GGUF header of ${where}: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
}

/** One sizing per hardware: the named GPU, or every GPU product and the CPU. */
export function sizeAcross(qs: QwenService, facts: ModelFacts, gpu: string | undefined, cpuBandwidthGBps: number): Sizing[] {
  const spec = sizingSpec(qs);
  const count = Math.max(1, spec.gpuCount);
  if (gpu) {
    if (gpu.toLowerCase() === 'cpu') return [assess(facts, { ...spec, gpuCount: 0 }, hardwareOf({ ...spec, gpuCount: 0 }, cpuBandwidthGBps))];
    const product = findGpu(gpu);
    if (!product) throw new CliError(`--gpu ${gpu} is not a GPU product the operator knows: ${GPU_PRODUCTS.map((g) => `${g.product} (${g.aliases.join(', ')})`).join(', ')}, or cpu`);
    const on = { ...spec, gpuCount: count, gpuProduct: product.product };
    return [assess(facts, on, hardwareOf(on, cpuBandwidthGBps))];
  }
  return [
    ...GPU_PRODUCTS.map((g) => {
      const on = { ...spec, gpuCount: count, gpuProduct: g.product };
      return assess(facts, on, hardwareOf(on, cpuBandwidthGBps));
    }),
    assess(facts, { ...spec, gpuCount: 0 }, hardwareOf({ ...spec, gpuCount: 0 }, cpuBandwidthGBps)),
  ];
}

function table(rows: Sizing[]): string[] {
  const cells = rows.map((s) => [
    s.hardware?.name ?? '?',
    s.hardware?.memoryBytes !== undefined ? `${gib(s.estimate.device)} / ${gib(s.hardware.memoryBytes)}` : `${gib(s.estimate.host)} (host)`,
    s.bound ? `${s.bound.tokensPerSecond.toFixed(1)}` : '?',
    `${s.feasibility.status}/${s.feasibility.reason}`,
  ]);
  const head = ['HARDWARE', 'MEMORY NEEDED / USABLE', 'DECODE TOK/S/SEQ', 'SLAFEASIBLE'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

export const sizeCommand: Command = {
  help: [
    'Usage: qwen-operator size -f FILE [--gpu PRODUCT] [--model-file PATH] [--output text|json] [--cpu-memory-bandwidth GB/S]',
    '',
    'Reads the model\'s GGUF header and says whether each QwenService in FILE fits the hardware and',
    'how fast it can decode there: the memory needed (weights + KV cache for contextSize × parallel +',
    'compute buffers), the decode bound per sequence at `parallel` (memory bandwidth ÷ bytes read per',
    'token, FP16 throughput ÷ FLOPs per token) against sla.outputTokensPerSecond.min, and the',
    'SLAFeasible verdict the operator would give. docs/sizing.md explains the arithmetic.',
    '',
    '  --gpu PRODUCT             one GPU product (nvidia.com/gpu.product value or short name, e.g. L4,',
    '                            NVIDIA-A100-SXM4-80GB) or cpu; default: every product the operator knows, and the CPU',
    '  --model-file PATH         read the header from this GGUF (complete, or cut anywhere after its tensor',
    '                            infos) instead of the source (hf: and https: sources are read with range requests)',
    '  --output text|json        json for scripts (default text)',
    `  --cpu-memory-bandwidth N  GB/s of the CPU path (default ${DEFAULT_CPU_BANDWIDTH_GBPS}, as the operator's flag)`,
    '',
    `GPU products: ${GPU_PRODUCTS.map((g) => g.product).join(', ')} (memory counted at ${USABLE_MEMORY * 100}%: the driver keeps the rest).`,
  ].join('\n'),
  async run(args) {
    const { values } = parseOptions(args, { file: { type: 'string', short: 'f' }, gpu: { type: 'string' }, 'model-file': { type: 'string' }, output: { type: 'string' }, 'cpu-memory-bandwidth': { type: 'string' } });
    if (!values.file) throw new CliError('missing -f FILE');
    const output = (values.output ?? 'text') as (typeof OUTPUTS)[number];
    if (!OUTPUTS.includes(output)) throw new CliError(`--output must be one of ${OUTPUTS.join(', ')}`);
    const bandwidth = values['cpu-memory-bandwidth'] === undefined ? DEFAULT_CPU_BANDWIDTH_GBPS : Number(values['cpu-memory-bandwidth']);
    if (!Number.isFinite(bandwidth) || bandwidth <= 0) throw new CliError(`--cpu-memory-bandwidth must be a positive number of GB/s (got ${values['cpu-memory-bandwidth']})`);
    const docs = validateYaml(readInput(values.file));
    if (!docs.length) throw new CliError(`${values.file}: no documents found`, 1);
    let bad = 0;
    const text: string[] = [];
    const json: unknown[] = [];
    for (const doc of docs) {
      if (!doc.ok) {
        bad++;
        for (const p of doc.problems) process.stderr.write(`${values.file}: ${doc.name}: ${p.path}: ${p.message}\n`);
        continue;
      }
      const qs = doc.value;
      const facts = await factsFor(qs, values['model-file']);
      const rows = sizeAcross(qs, facts, values.gpu, bandwidth);
      const name = `${namespaceOf(qs)}/${qs.metadata.name}`;
      if (output === 'json') {
        json.push({ name, model: facts, rows: rows.map((s) => ({ hardware: s.hardware, estimate: s.estimate, bound: s.bound, feasibility: s.feasibility })) });
      } else if (rows.length === 1) {
        text.push(`${name}\n${explainSizing(rows[0]!).map((l) => `  ${l}`).join('\n')}\n`);
      } else {
        const [model, memory] = explainSizing(rows[0]!);
        const why = rows.filter((s) => s.feasibility.status === 'False').map((s) => `  ${s.hardware?.name}: ${s.feasibility.message}`);
        text.push(`${name}\n  ${model}\n  ${memory}\n\n${table(rows).join('\n')}\n${why.length ? `\n${why.join('\n')}\n` : ''}`);
      }
    }
    process.stdout.write(output === 'json' ? `${JSON.stringify(json, null, 2)}\n` : text.join('---\n'));
    return bad ? 1 : 0;
  },
};
