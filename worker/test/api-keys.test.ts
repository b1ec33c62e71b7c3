// Key revocation on real files: a key file that is emptied revokes every key at once; one that
// cannot be read is a fault (logged with its context, counted), whose last keys stay valid for a
// bounded grace only. (chmod 000 does not stop root, who runs these tests in CI: the file is made
// unreadable by deleting it, or by putting a directory in its place.)
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { API_KEY_FAULT_GRACE_S, ApiKeys } from '../src/auth.ts';

type Line = Record<string, unknown> & { msg: string };

let dir: string;
let path: string;
let lines: Line[];
const log = () => pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Line); } });
const ok = (k: ApiKeys, key: string) => k.check(`Bearer ${key}`).ok;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qwen-api-keys-'));
  path = join(dir, 'keys');
  lines = [];
  writeFileSync(path, 'alpha\nbeta\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('API key revocation', () => {
  it.each([
    ['emptied', ''],
    ['left with comments only', '# all keys revoked\n\n'],
  ])('a key file %s revokes every key at once', (_how, content) => {
    const k = new ApiKeys(path, { log: log() });
    expect(ok(k, 'alpha')).toBe(true);
    writeFileSync(path, content);
    expect([ok(k, 'alpha'), ok(k, 'beta')]).toEqual([false, false]);
    expect(lines.some((l) => l.msg.startsWith('API key file holds no key') && l.path === path)).toBe(true);
    // A key written back is valid again.
    writeFileSync(path, 'gamma\n');
    expect([ok(k, 'alpha'), ok(k, 'gamma')]).toEqual([false, true]);
  });

  it.each([
    ['deleted', () => unlinkSync(path), 'ENOENT'],
    ['replaced by a directory', () => { unlinkSync(path); mkdirSync(path); }, 'EISDIR'],
  ])('a key file %s is a fault: logged once with its context, counted, the last keys kept for the grace only', async (_how, breakIt, code) => {
    let faults = 0;
    const k = new ApiKeys(path, { log: log(), graceS: 0.5, onFault: () => { faults++; } });
    expect(ok(k, 'alpha')).toBe(true);
    breakIt();
    expect([ok(k, 'alpha'), ok(k, 'beta'), ok(k, 'x')]).toEqual([true, true, false]);
    expect(faults).toBe(1);
    const fault = lines.filter((l) => l.msg.startsWith('API key file unreadable'));
    expect(fault).toHaveLength(1);
    expect(fault[0]).toMatchObject({ level: 50, path, code, keys: 2, graceS: 0.5 });
    await sleep(600);
    expect([ok(k, 'alpha'), ok(k, 'beta')]).toEqual([false, false]);
    expect(lines.filter((l) => l.msg.startsWith('API key file still unreadable after the grace period'))).toHaveLength(1);
    expect(faults).toBe(1);
    // Readable again (the same keys): loaded again, and a later fault is a new one.
    rmSync(path, { recursive: true, force: true });
    writeFileSync(path, 'alpha\nbeta\n');
    expect(ok(k, 'alpha')).toBe(true);
    expect(lines.some((l) => l.msg === 'API key file readable again')).toBe(true);
    unlinkSync(path);
    expect(ok(k, 'alpha')).toBe(true);
    expect(faults).toBe(2);
  });

  it('a fault that heals within the grace keeps serving the keys', () => {
    const k = new ApiKeys(path, { graceS: 60 });
    unlinkSync(path);
    expect(ok(k, 'alpha')).toBe(true);
    writeFileSync(path, 'beta\n');
    expect([ok(k, 'alpha'), ok(k, 'beta')]).toEqual([false, true]);
  });

  it('the default grace is a minute', () => {
    expect(API_KEY_FAULT_GRACE_S).toBe(60);
  });
});
