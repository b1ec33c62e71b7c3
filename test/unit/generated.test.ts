import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { GENERATED } from '../../scripts/generate.ts';

describe('generated files', () => {
  it.each(Object.keys(GENERATED))('%s matches its source (run `npm run generate`)', (path) => {
    expect(readFileSync(path, 'utf8')).toBe(GENERATED[path]!());
  });
});
