// The parser of a batched `b3sum -- paths...` run (sftp with remote_hash: b3sum), fed what the
// real b3sum prints for awkward names: an answer only when every line names its path in order.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseB3sumOutput, shellQuote } from '../../src/destinations/sftp/remote-b3sum.js';
import { hashBytes } from '../../src/hash.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';

afterEach(() => cleanupTempDirs());

const AWKWARD = ['plain', 'with space', "it's \"quoted\"", 'new\nline', 'back\\slash', 'ünïcödé 日本', '-dash', 'cr\rreturn', 'tab\there', '\\n literally'];

/** The files written under a temp dir, and what the real b3sum prints for them (through sh, quoted as the destination quotes). */
function b3sumOf(names: string[]): { absolute: string[]; stdout: string; bytes: Buffer[] } {
  const dir = tempDir('squirrel-b3sum-');
  const absolute = names.map((name) => path.join(dir, name));
  const bytes = names.map((name) => Buffer.from(`bytes of ${name}`));
  absolute.forEach((file, i) => fs.writeFileSync(file, bytes[i]));
  const run = spawnSync('sh', ['-c', `b3sum -- ${absolute.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
  expect(run.status).toBe(0);
  return { absolute, stdout: run.stdout, bytes };
}

describe('parseB3sumOutput', () => {
  it('reads every awkward name back to its own hash, in order', () => {
    // setup
    const { absolute, stdout, bytes } = b3sumOf(AWKWARD);
    // act
    const hashes = parseB3sumOutput(stdout, absolute);
    // expect
    expect(hashes).toEqual(bytes.map((b) => hashBytes(b)));
  });

  it('refuses anything doubtful: a missing line, an extra one, another order, another name, a bad escape, no final newline', () => {
    // setup
    const { absolute, stdout } = b3sumOf(['a', 'b', 'c']);
    const lines = stdout.slice(0, -1).split('\n');
    // act + expect
    expect(parseB3sumOutput(lines.slice(0, 2).join('\n') + '\n', absolute)).toBeNull();
    expect(parseB3sumOutput(`${stdout}${lines[0]}\n`, absolute)).toBeNull();
    expect(parseB3sumOutput([lines[1], lines[0], lines[2]].join('\n') + '\n', absolute)).toBeNull();
    expect(parseB3sumOutput(stdout, [absolute[0], absolute[1], `${absolute[2]}x`])).toBeNull();
    expect(parseB3sumOutput(`\\${lines[0]}\\q\n${lines[1]}\n${lines[2]}\n`, absolute)).toBeNull();
    expect(parseB3sumOutput(stdout.slice(0, -1), absolute)).toBeNull();
    expect(parseB3sumOutput(stdout.replace(/^[0-9a-f]{64}/, 'z'.repeat(64)), absolute)).toBeNull();
  });
});
