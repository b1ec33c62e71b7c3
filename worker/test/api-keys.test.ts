// Key revocation on real files: a key file that is emptied revokes every key at once; one that
// cannot be read is a fault (logged with its context, counted), whose last keys stay valid for a
// bounded grace only. (chmod 000 does not stop root, who runs these tests in CI: the file is made
// unreadable by deleting it, or by putting a directory in its place.)
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { API_KEY_FAULT_GRACE_S, ApiKeys, DEFAULT_TENANT } from '../src/auth.ts';

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

// A Secret mounted whole, as the kubelet lays it out: the data keys are symlinks into `..data`, a
// symlink to a timestamped folder that an update replaces atomically (a new folder, `..data` renamed over).
describe('named keys (a directory: one file per tenant)', () => {
  let secret: string;
  let version = 0;
  const publish = (data: Record<string, string>) => {
    const folder = `..v${++version}`;
    mkdirSync(join(secret, folder));
    for (const [name, keys] of Object.entries(data)) writeFileSync(join(secret, folder, name), keys);
    symlinkSync(folder, join(secret, '..data_tmp'));
    renameSync(join(secret, '..data_tmp'), join(secret, '..data'));
    for (const name of Object.keys(data)) if (!existsSync(join(secret, name))) symlinkSync(join('..data', name), join(secret, name));
    for (const name of readdirSync(secret)) if (!name.startsWith('.') && !(name in data)) unlinkSync(join(secret, name));
  };
  const tenant = (k: ApiKeys, key: string) => { const r = k.check(`Bearer ${key}`); return r.ok ? r.tenant : undefined; };

  beforeEach(() => {
    secret = join(dir, 'secret');
    mkdirSync(secret);
  });

  it('a key names its tenant; the single-file form is the tenant default', () => {
    publish({ 'team-a': 'ka1\nka2\n', 'team-b': '# rotated\nkb\n' });
    const k = new ApiKeys(secret);
    expect(k.named).toBe(true);
    expect(k.tenants).toEqual(['team-a', 'team-b']);
    expect([tenant(k, 'ka1'), tenant(k, 'ka2'), tenant(k, 'kb'), tenant(k, 'nope'), tenant(k, '..data')]).toEqual(['team-a', 'team-a', 'team-b', undefined, undefined]);
    expect(tenant(new ApiKeys(path), 'alpha')).toBe(DEFAULT_TENANT);
  });

  it('an update of the Secret is seen: a tenant added, a key rotated, a tenant removed; emptied, every key revoked', () => {
    publish({ 'team-a': 'ka\n', 'team-b': 'kb\n' });
    const k = new ApiKeys(secret, { log: log() });
    publish({ 'team-a': 'ka-new\n', 'team-c': 'kc\n' });
    expect([tenant(k, 'ka'), tenant(k, 'ka-new'), tenant(k, 'kb'), tenant(k, 'kc')]).toEqual([undefined, 'team-a', undefined, 'team-c']);
    expect(lines.some((l) => l.msg === 'API keys reloaded' && Array.isArray(l.tenants))).toBe(true);
    publish({ 'team-a': '', 'team-c': '# none\n' });
    expect([tenant(k, 'ka-new'), tenant(k, 'kc')]).toEqual([undefined, undefined]);
  });

  it('a directory without a key is refused at start; one that disappears is a fault with the grace', async () => {
    publish({ 'team-a': '\n' });
    expect(() => new ApiKeys(secret)).toThrow(/no key in the directory/);
    publish({ 'team-a': 'ka\n' });
    const k = new ApiKeys(secret, { graceS: 0.3 });
    rmSync(secret, { recursive: true });
    expect(tenant(k, 'ka')).toBe('team-a');
    await sleep(400);
    expect(tenant(k, 'ka')).toBeUndefined();
  });
});
