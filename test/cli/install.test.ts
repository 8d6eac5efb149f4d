// The install does not depend on npm's leniency (issue 19, item 10): package.json's
// allowScripts covers exactly the dependencies whose install scripts the lockfile records,
// approving only the one squirrel cannot run without (better-sqlite3's native binding, which
// the real binary below loads), and the README's global install carries the flag it needs.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, REPO_ROOT, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8')) as Record<string, unknown>;

describe('install scripts', () => {
  it('allowScripts names every dependency with an install script, and approves only better-sqlite3', () => {
    // setup
    const lock = readJson('package-lock.json') as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([where]) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));
    const allowScripts = readJson('package.json').allowScripts as Record<string, boolean>;
    // expect
    const named = (key: string) => key.replace(/(?<=.)@.*$/, '');
    expect(Object.keys(allowScripts).map(named).sort()).toEqual([...new Set(withScripts)].sort());
    expect(Object.entries(allowScripts).filter(([, allowed]) => allowed).map(([key]) => named(key))).toEqual(['better-sqlite3']);
  });

  it('the binary opens its bundled SQLite (the one approved build), and the README says how to install globally', () => {
    // act
    const init = bin(['init', '--path', path.join(tempDir(), 'fresh')]);
    // expect
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^created .*index\.db$/m);
    expect(fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')).toMatch(/^npm install -g --allow-scripts=file:\. \.$/m);
    expect(fs.readFileSync(path.join(REPO_ROOT, '.ci', 'run'), 'utf8')).toMatch(/grep -q 'install scripts not yet covered by allowScripts'/);
  });
});
