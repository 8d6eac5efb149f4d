// Before any test: rebuild dist/ when a source is newer than the bundle bin/squirrel loads
// (and the compiled workers some in-process tests load). Without it, editing src/ and running
// one test file would silently test the previous build.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = path.join(REPO_ROOT, 'dist', 'bundle', 'main.js');
/** What a build reads: the sources, the migrations shipped beside them, and the build's own recipe. */
const INPUTS = ['src', 'migrations', 'scripts/bundle.mjs', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newestMtimeMs(entry: string): number {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(entry).map((name) => newestMtimeMs(path.join(entry, name))));
}

export function staleBuildReason(): string | null {
  const built = fs.statSync(BUNDLE, { throwIfNoEntry: false });
  if (!built) return 'dist/ has not been built';
  const newest = Math.max(...INPUTS.map((input) => newestMtimeMs(path.join(REPO_ROOT, input))));
  return newest > built.mtimeMs ? 'sources changed since dist/ was built' : null;
}

export default function setup(): void {
  const reason = staleBuildReason();
  if (reason === null) return;
  process.stderr.write(`${reason}: npm run build\n`);
  // Through the npm that runs this (npm test, npx vitest) when there is one.
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const build = spawnSync(npm[0], [...npm.slice(1), 'run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.error || build.status !== 0) throw new Error(`npm run build failed (${build.error?.message ?? `exit ${build.status}`}); the tests would run a stale dist/`);
}
