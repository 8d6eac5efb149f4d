// `squirrel ls` (issue 19, item 3), through the real binary: after an offload, a folder as
// squirrel sees it — each file's state and size, per destination whether a verified copy is
// there and how long ago it was verified, subfolders summarised — in text and --json.

import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, DAY_NS, json, withConfig } from '../helpers.js';
import type { LsReport } from '../../src/cli/commands/ls.js';
import type { JsonOf } from '../../src/cli/context.js';
import { copyAt, NOW, offloaded } from '../scenarios.js';

afterEach(cleanupTempDirs);

describe('ls', () => {
  it('shows a folder after an offload: states, sizes, verified copies and their age, folders summarised', async () => {
    // setup: two offloaded, one present; then a copy lost at offsite
    const sb = await offloaded({ 'trip/a.jpg': 'alpha', 'trip/b.jpg': 'bravo!', 'trip/day2/c.jpg': 'charlie', 'd.jpg': 'delta' }, ['trip/a.jpg', 'trip/day2']);
    fs.rmSync(copyAt(sb, 'offsite', 'trip/b.jpg'));
    expect(bin(withConfig(sb, 'verify', 'photos', '--to', 'offsite'), { nowNs: NOW }).code).toBe(1);
    const later = NOW + 3n * DAY_NS;
    const ls = (...args: string[]) => bin(withConfig(sb, ...args), { nowNs: later });
    // act
    const root = ls('ls', 'photos');
    const trip = ls('ls', 'photos', 'trip');
    const onlyOffloaded = ls('ls', 'photos', 'trip', '--offloaded');
    const doc = json<JsonOf<LsReport>>(ls('--json', 'ls', 'photos', 'trip'));
    // expect
    expect(root.code, root.stderr).toBe(0);
    expect(root.stdout).toMatch(/^photos:\/ {2}4 files, 23 B, 2 offloaded \(50%, 12 B\)$/m);
    expect(root.stdout).toMatch(/^STATE +SIZE +NAS +OFFSITE +NAME$/m);
    expect(root.stdout).toMatch(/^folder +18 B +3\/3 +2\/3 +trip\/ {2}\(3 files, 67% offloaded\)$/m);
    expect(root.stdout).toMatch(/^present +5 B +ok 3d +ok 3d +d\.jpg$/m);
    expect(trip.stdout).toMatch(/^offloaded +5 B +ok 3d +ok 3d +a\.jpg$/m);
    expect(trip.stdout).toMatch(/^present +6 B +ok 3d +lost +b\.jpg$/m);
    expect(trip.stdout).toMatch(/^folder +7 B +1\/1 +1\/1 +day2\/ {2}\(1 file, 100% offloaded\)$/m);
    expect(onlyOffloaded.stdout).not.toMatch(/b\.jpg/);
    expect(onlyOffloaded.stdout).toMatch(/a\.jpg/);
    expect(doc.summary).toMatchObject({ files: 3, offloadedFiles: 2, verified: { nas: 3, offsite: 2 } });
    const b = doc.entries.find((e) => e.name === 'b.jpg');
    expect(b).toMatchObject({ kind: 'file', state: 'present', sizeBytes: 6, copies: { nas: { state: 'verified', verifiedAtNs: NOW.toString() }, offsite: { state: 'lost', verifiedAtNs: null } } });
  });

  it('a file path lists that file; an unknown path exits 1; --offloaded with --present is a usage error', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, ['a.jpg']);
    // act
    const file = bin(withConfig(sb, 'ls', 'photos', 'a.jpg'), { nowNs: NOW });
    const unknown = bin(withConfig(sb, 'ls', 'photos', 'nope'), { nowNs: NOW });
    const both = bin(withConfig(sb, 'ls', 'photos', '--offloaded', '--present'), { nowNs: NOW });
    const outside = bin(withConfig(sb, 'ls', 'photos', '../x'), { nowNs: NOW });
    // expect
    expect(file.code).toBe(0);
    expect(file.stdout).toMatch(/^offloaded +5 B +ok 0s +ok 0s +a\.jpg$/m);
    expect(file.stdout).not.toMatch(/b\.jpg/);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/photos:nope {2}not in the index/);
    expect(both.code).toBe(2);
    expect(outside.code).toBe(2);
  });
});
