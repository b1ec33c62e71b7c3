// A model's facts from a GGUF file on disk, complete or cut anywhere after its tensor infos:
// only the head is read (`qwen-operator size --model-file`, `render --explain --model-file`).
import { open } from 'node:fs/promises';
import { readGgufHead } from './gguf.ts';
import { modelFacts, type ModelFacts } from './facts.ts';

export async function readLocalFacts(path: string): Promise<ModelFacts> {
  const fh = await open(path, 'r');
  try {
    return modelFacts(await readGgufHead(async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    }));
  } finally {
    await fh.close();
  }
}
