// Lints the Dockerfile: dockerfile-utils' validator (the VS Code Docker language server's) plus
// the hadolint rules that matter here, checked on the parsed instructions.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';

const text = readFileSync('Dockerfile', 'utf8');
const dockerfile = DockerfileParser.parse(text);
const instructions = dockerfile.getInstructions();
const args = Object.fromEntries(text.split('\n').filter((l) => l.startsWith('ARG ')).map((l) => l.slice(4).split('=') as [string, string]));
const stages = dockerfile.getFROMs().map((f) => f.getBuildStage());

describe('Dockerfile', () => {
  it('has no validator diagnostics', () => {
    expect(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('pins every base image by a build arg with a fixed tag (hadolint DL3006/DL3007)', () => {
    for (const from of dockerfile.getFROMs()) {
      const image = from.getImage() ?? '';
      if (stages.includes(image)) continue; // FROM an earlier stage
      const arg = /^\$\{(\w+)\}$/.exec(image)?.[1];
      expect([image, arg && args[arg]]).toEqual([image, expect.stringMatching(/^[\w./-]+:[\w.-]+$/)]);
      expect(args[arg!]).not.toMatch(/:latest$/);
    }
  });

  it('runs the shipped targets as a non-root user with exec-form entrypoints (DL3002, DL3025)', () => {
    for (const target of ['operator', 'worker', 'worker-cpu', 'router']) {
      const start = instructions.findIndex((i) => i.getKeyword() === 'FROM' && / AS /i.test(i.getTextContent()) && i.getTextContent().trim().endsWith(` ${target}`));
      expect([target, start]).not.toEqual([target, -1]);
      const end = instructions.findIndex((i, n) => n > start && i.getKeyword() === 'FROM');
      const body = instructions.slice(start + 1, end === -1 ? undefined : end);
      const user = body.filter((i) => i.getKeyword() === 'USER').pop()?.getArgumentsContent();
      expect([target, user]).toEqual([target, '65532:65532']);
      const entry = body.find((i) => i.getKeyword() === 'ENTRYPOINT')?.getArgumentsContent() ?? '';
      expect(() => JSON.parse(entry)).not.toThrow();
    }
  });

  it('builds only through scripts/image-build.sh, which the tests run too', () => {
    const runs = instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent());
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) expect(r).toMatch(/^bash scripts\/image-build\.sh (operator|worker|worker-cpu|router) \/out$/);
  });

  it('copies only paths that exist, and never adds remote URLs (DL3020)', () => {
    expect(instructions.some((i) => i.getKeyword() === 'ADD')).toBe(false);
    for (const copy of instructions.filter((i) => i.getKeyword() === 'COPY' && !/--from=/.test(i.getTextContent()))) {
      const parts = copy.getArguments().map((a) => a.getValue());
      for (const src of parts.slice(0, -1)) expect([src, existsSync(src)]).toEqual([src, true]);
    }
  });

  it('keeps node_modules and build output out of the context', () => {
    const ignore = readFileSync('.dockerignore', 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });
});
