// -q for cron (issue 19, item 2), through the real binary: a command that succeeds prints
// nothing at all, whatever it did; one that does not succeed still shows its result and its
// errors; the exit code is the same with or without -q; --json still prints its document.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, makeSandbox, Sandbox, withConfig } from '../helpers.js';
import { NOW } from '../scenarios.js';

afterEach(cleanupTempDirs);

function quiet(sb: Sandbox, ...args: string[]) {
  return bin(withConfig(sb, '-q', ...args), { nowNs: NOW });
}

describe('-q', () => {
  it('a night of cron jobs that succeed prints nothing, not even a refusal to offload', () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    const nightly = [
      ['index', 'photos'],
      ['sync', 'photos', '--to', 'nas', '--init'],
      ['verify', 'photos', '--to', 'nas'],
      // offsite was never synced: every file is refused there, a normal outcome (exit 0)
      ['offload', 'photos', '.'],
      ['status', 'photos'],
      ['runs'],
    ];
    for (const args of nightly) {
      // act
      const result = quiet(sb, ...args);
      // expect
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr, args.join(' ')).toBe('');
    }
    expect(fs.existsSync(path.join(sb.volumePath, 'a.jpg'))).toBe(true);
  });

  it('a command that fails shows its result and errors, with the same exit code as without -q', () => {
    // setup: the offsite drive is gone
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    expect(quiet(sb, 'index', 'photos').code).toBe(0);
    fs.rmSync(sb.destinations.offsite, { recursive: true });
    // act
    const loud = bin(withConfig(sb, 'sync', 'photos', '--to', 'offsite'), { nowNs: NOW });
    const silent = quiet(sb, 'sync', 'photos', '--to', 'offsite');
    // expect
    expect(silent.code).toBe(1);
    expect(silent.code).toBe(loud.code);
    expect(silent.stdout).toMatch(/sync photos -> offsite: failed/);
    expect(silent.stdout).toBe(loud.stdout);
  });

  it('--json -q still prints the document that was asked for', () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    // act
    const result = quiet(sb, '--json', 'index', 'photos');
    // expect
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ volume: 'photos', counts: { new: 1 } });
  });

  it('status --check: green is silent, red shows why', () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' }, { destinations: ['nas'] });
    expect(quiet(sb, 'index', 'photos').code).toBe(0);
    // act: a destination never marked is red
    const red = quiet(sb, 'status', 'photos', '--check');
    expect(quiet(sb, 'sync', 'photos', '--init').code).toBe(0);
    const green = quiet(sb, 'status', 'photos', '--check');
    // expect
    expect(red.code).toBe(2);
    expect(red.stdout).toMatch(/^photos: RED/m);
    expect(red.stdout).toMatch(/never pushed successfully/);
    expect(green).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });
});
