// `qwen-operator size` and `render --explain --model-file`, run as users run them (the bin shim),
// on the test model and the truncated 7B Qwen2 head (scripts/fetch-sizing-fixture.sh).
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GPU_PRODUCTS } from '../../../src/sizing/gpus.ts';

const MODELS = join(process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator'), 'models');
const QWEN2_PART = join(MODELS, 'deepseek-r1-distill-qwen-7b-q4_k_m.part-0000.gguf');

function cli(args: string[], input?: string) {
  const r = spawnSync('bin/qwen-operator', args, { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const QWS = `apiVersion: qwenops.io/v1alpha1
kind: QwenService
metadata: { name: chat, namespace: demo }
spec:
  model: { contextSize: 32768, parallel: 8 }
  gpu: { count: 1, product: NVIDIA-L4 }
  sla:
    outputTokensPerSecond: { min: 40 }
`;

type Row = { hardware: { name: string }; estimate: { device: number }; bound: { tokensPerSecond: number }; feasibility: { status: string; reason: string; message: string } };

describe('qwen-operator size', () => {
  it('sizes every GPU product and the CPU from a truncated GGUF, as JSON', () => {
    const r = cli(['size', '-f', '-', '--model-file', QWEN2_PART, '--output', 'json'], QWS);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [out] = JSON.parse(r.stdout) as [{ name: string; model: Record<string, unknown>; rows: Row[] }];
    expect(out.name).toBe('demo/chat');
    expect(out.model).toMatchObject({ architecture: 'qwen2', layers: 28, kvHeads: 4, headDim: 128, trainedContext: 131072, quantization: 'Q4_K_M' });
    expect(out.rows.map((row) => row.hardware.name)).toEqual([...GPU_PRODUCTS.map((g) => g.product), 'CPU']);
    const byName = new Map(out.rows.map((row) => [row.hardware.name, row]));
    // 7B Q4_K_M with 32768 × 8 tokens of f16 KV cache: ~18.6 GiB, over a T4's 16 GB, within an L4's 24 GB.
    expect(byName.get('Tesla-T4')!.feasibility).toMatchObject({ status: 'False', reason: 'InsufficientMemory' });
    expect(byName.get('NVIDIA-L4')!.feasibility).toMatchObject({ status: 'True', reason: 'WithinPhysicalBounds' });
    expect(byName.get('CPU')!.feasibility.reason).toBe('TokensPerSecondUnreachable');
  });

  it('prints the lines for one GPU, by its short name', () => {
    const r = cli(['size', '-f', '-', '--model-file', QWEN2_PART, '--gpu', 'l4'], QWS);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  hardware: NVIDIA-L4, 22.8 GiB usable, 300 GB/s, 121 FP16 TFLOPS\n');
    expect(r.stdout).toMatch(/ {2}SLAFeasible: True\/WithinPhysicalBounds: needs 18\.6 GiB of 22\.8 GiB on NVIDIA-L4/);
  });

  it('refuses an unknown GPU and a file that is not a GGUF, with the reason', () => {
    const unknown = cli(['size', '-f', '-', '--model-file', QWEN2_PART, '--gpu', 'B300'], QWS);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--gpu B300 is not a GPU product the operator knows');
    const notGguf = cli(['size', '-f', '-', '--model-file', 'package.json'], QWS);
    expect(notGguf.code).toBe(1);
    expect(notGguf.stderr).toContain('cannot read the GGUF header of package.json: not a GGUF file');
    const pvc = cli(['size', '-f', '-'], QWS.replace('model: {', 'model: { source: "pvc://models/q.gguf",'));
    expect(pvc.code).toBe(1);
    expect(pvc.stderr).toContain('pass the GGUF with --model-file');
  });

  it('render --explain --model-file prints the same lines for the spec\'s own GPU', () => {
    const size = cli(['size', '-f', '-', '--model-file', QWEN2_PART, '--gpu', 'NVIDIA-L4'], QWS);
    const explain = cli(['render', '-f', '-', '--explain', '--model-file', QWEN2_PART], QWS);
    expect(explain.code).toBe(0);
    const lines = size.stdout.split('\n').slice(1).filter(Boolean);
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(explain.stdout).toContain(`${line}\n`);
  });
});
