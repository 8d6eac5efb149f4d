// Running the real binary as an unprivileged user ("nobody", uid 65534), for tests that need
// permissions root would ignore. That user must be able to reach bin/squirrel; a checkout below
// a directory only its owner may enter (a clone into a private `mktemp -d`) is out of its reach,
// so then the built binary and what it loads are staged in a world-readable temp directory.

import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, REPO_ROOT, tempDir } from './helpers.js';

export const NOBODY_UID = 65534;
const AS_NOBODY = [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups'];

export interface OtherUser {
  /** bin/squirrel (or its staged copy) run as nobody. */
  run(args: string[]): SpawnSyncReturns<string>;
}

function runAsNobody(bin: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync('setpriv', [...AS_NOBODY, process.execPath, bin, ...args], { encoding: 'utf8' });
}

/** The packages the bundle imports statically (lazily loaded ones, such as the S3 client, are not needed here). */
function bundleImports(bundleDir: string): string[] {
  const names = new Set<string>();
  for (const file of fs.readdirSync(bundleDir).filter((name) => name.endsWith('.js'))) {
    for (const match of fs.readFileSync(path.join(bundleDir, file), 'utf8').matchAll(/\bfrom\s*["']([^"'./][^"']*)["']/g)) {
      if (match[1].startsWith('node:')) continue;
      names.add(match[1].split('/').slice(0, match[1].startsWith('@') ? 2 : 1).join('/'));
    }
  }
  return [...names];
}

/** Those packages and everything they depend on at run time, as installed in node_modules. */
function runtimeClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    const manifest = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    if (seen.has(name) || !fs.existsSync(manifest)) return;
    seen.add(name);
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep);
  };
  roots.forEach(visit);
  return [...seen];
}

/** A copy of what `node bin/squirrel` reads, laid out as in the checkout, readable by everyone. */
function stageBinary(): string {
  const stage = path.join(tempDir('squirrel-staged-'), 'squirrel');
  const bundleDir = path.join(REPO_ROOT, 'dist', 'bundle');
  const copy = (relative: string) => fs.cpSync(path.join(REPO_ROOT, relative), path.join(stage, relative), { recursive: true });
  for (const relative of ['bin', 'dist/bundle', 'migrations', 'package.json']) copy(relative);
  for (const name of runtimeClosure(bundleImports(bundleDir))) copy(path.join('node_modules', name));
  // mkdtemp makes the directory private; the checkout's own modes may be private too.
  fs.chmodSync(path.dirname(stage), 0o755);
  spawnSync('chmod', ['-R', 'a+rX', stage]);
  return path.join(stage, 'bin', 'squirrel');
}

/**
 * squirrel as nobody, from the checkout when that user can reach it, else from a staged copy;
 * `skip` says why neither works here (no setpriv, or nobody cannot run node itself).
 */
export function squirrelAsNobody(): OtherUser | { skip: string } {
  const probe = runAsNobody(BIN, ['--version']);
  if (probe.error) return { skip: `setpriv is not available (${probe.error.message})` };
  if (probe.status === 0) return { run: (args) => runAsNobody(BIN, args) };
  const staged = stageBinary();
  const stagedProbe = runAsNobody(staged, ['--version']);
  if (stagedProbe.status !== 0) return { skip: `uid ${NOBODY_UID} cannot run ${process.execPath} even on a staged copy: ${stagedProbe.stderr.trim()}` };
  return { run: (args) => runAsNobody(staged, args) };
}
