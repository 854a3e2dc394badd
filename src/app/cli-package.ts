// The Ajar CLI as an npm package, served by Ajar itself (GET /cli/ajar.tgz), so
// a pipeline installs the CLI from the server it already trusts with the
// decision — never `npx ajar` from the public registry, where that name belongs
// to someone else. The tarball is built once per process from this package's own
// files (the build that serves it), byte for byte the same on every server of a
// release; its npm-shrinkwrap.json pins every dependency by version and integrity.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The package root: dist/app/cli-package.js → ../.. */
const ROOT = join(import.meta.dirname, '..', '..');
/** npm's own fixed mtime for packed files (1985-10-26T08:15:00Z): same bytes from every build. */
const MTIME = 499162500;
/** What `npm pack` would ship (package.json "files"), plus the lockfile. */
const INCLUDE = ['dist', 'hooks', 'examples', 'README.md', 'LICENSE'];

export interface CliPackage {
  version: string;
  /** ajar-<version>.tgz */
  file: string;
  tgz: Buffer;
  sha256: string;
  /** npm's integrity string (sha512) */
  integrity: string;
}

let cached: CliPackage | undefined;

export function cliPackage(root = ROOT): CliPackage {
  if (cached && root === ROOT) return cached;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  // Only what an installed CLI needs: no build scripts, no devDependencies.
  const manifest = pick(pkg, ['name', 'version', 'description', 'license', 'type', 'engines', 'bin', 'dependencies']);
  const entries: [string, Buffer][] = [['package.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]];
  const lock = ['npm-shrinkwrap.json', 'package-lock.json'].map((f) => join(root, f)).find((f) => existsSync(f));
  if (lock) entries.push(['npm-shrinkwrap.json', Buffer.from(`${JSON.stringify(shrinkwrap(JSON.parse(readFileSync(lock, 'utf8')), manifest), null, 2)}\n`)]);
  for (const name of INCLUDE) {
    const path = join(root, name);
    if (!existsSync(path)) continue;
    for (const file of walk(path)) entries.push([relative(root, file).split(sep).join('/'), readFileSync(file)]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const tgz = gzipSync(tar(entries.map(([name, body]) => [`package/${name}`, body])), { level: 9 });
  const out: CliPackage = {
    version: String(manifest.version),
    file: `ajar-${String(manifest.version)}.tgz`,
    tgz,
    sha256: createHash('sha256').update(tgz).digest('hex'),
    integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
  };
  if (root === ROOT) cached = out;
  return out;
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** The lockfile as a shrinkwrap for installing the CLI: production packages only. */
function shrinkwrap(lock: { packages?: Record<string, Record<string, unknown>> } & Record<string, unknown>, manifest: Record<string, unknown>) {
  const packages: Record<string, unknown> = {};
  for (const [path, p] of Object.entries(lock.packages ?? {})) {
    if (path === '') packages[path] = pick(manifest, ['name', 'version', 'license', 'dependencies', 'bin', 'engines']);
    else if (!p.dev) packages[path] = p;
  }
  return { name: manifest.name, version: manifest.version, lockfileVersion: lock.lockfileVersion ?? 3, requires: true, packages };
}

function* walk(path: string): Generator<string> {
  if (statSync(path).isFile()) {
    yield path;
    return;
  }
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.name === '__pycache__' || e.name.endsWith('.pyc')) continue;
    const p = join(path, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** A POSIX ustar archive of regular files (what npm reads). */
export function tar(files: [string, Buffer][]): Buffer {
  const blocks: Buffer[] = [];
  for (const [path, body] of files) {
    const h = Buffer.alloc(512);
    let name = path;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = path.lastIndexOf('/', 155);
      prefix = path.slice(0, cut);
      name = path.slice(cut + 1);
      if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long for a tar header: ${path}`);
    }
    h.write(name, 0, 100);
    octal(h, 100, 8, 0o644);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, body.length);
    octal(h, 136, 12, MTIME);
    h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
    h.write('0', 156);
    h.write('ustar\u000000', 257, 8, 'binary');
    h.write(prefix, 345, 155);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'binary');
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function octal(h: Buffer, at: number, width: number, value: number): void {
  h.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, at, width, 'binary');
}
