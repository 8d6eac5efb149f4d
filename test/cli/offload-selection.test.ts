// Offload through the real binary, SPEC §6 scenarios 5-7 and the report: which files a
// selector and --older-than take, a selector matching nothing, a dry run that reads nothing
// but the index, and the text and --json report scripts read.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeSandbox, rowStatuses, runList, Tree } from '../helpers.js';
import { local, NOW, offload, offloadJson, seeded, setMtimeSeconds, setup, TARGETS, totalsOf } from '../scenarios.js';

afterEach(cleanupTempDirs);

describe('scenarios 5-7: selection and dry runs', () => {
  it('5: no selector and unsafe selectors are usage errors that touch nothing', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const runsBefore = runList(sb);
    // act + expect
    const none = offload(sb);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/offload needs at least one path.*or '\.' for the whole volume/);
    for (const [selector, problem] of [
      ['../x', "contains '..'"],
      ['/abs', 'is absolute'],
      ['a/../..', "contains '..'"],
      ['', 'is empty'],
    ]) {
      const result = offload(sb, selector);
      expect(result.code, `${JSON.stringify(selector)}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(`selector ${JSON.stringify(selector)} ${problem}`);
    }
    const badAge = offload(sb, '.', '--older-than', 'soon');
    expect(badAge.code).toBe(2);
    expect(badAge.stderr).toMatch(/--older-than: /);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(runList(sb)).toEqual(runsBefore);
  });

  it('5: a prefix is segment-bounded: Photos/2019 takes Photos/2019/*, never Photos/2019-extra', async () => {
    // setup
    const sb = await seeded({
      'Photos/2019/a.jpg': 'alpha',
      'Photos/2019/deep/b.jpg': 'bravo',
      'Photos/2019-extra/c.jpg': 'charlie',
      'Photos/2019.jpg': 'delta',
    });
    // act
    const result = offload(sb, 'Photos/2019');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(totalsOf(result)).toMatchObject({ offloaded: '2', not_durable: '0' });
    expect(rowStatuses(sb)).toEqual({
      'Photos/2019/a.jpg': 'offloaded',
      'Photos/2019/deep/b.jpg': 'offloaded',
      'Photos/2019-extra/c.jpg': 'present',
      'Photos/2019.jpg': 'present',
    });
    expect(fs.existsSync(local(sb, 'Photos/2019/a.jpg'))).toBe(false);
    expect(fs.existsSync(local(sb, 'Photos/2019/deep/b.jpg'))).toBe(false);
    expect(fs.readFileSync(local(sb, 'Photos/2019-extra/c.jpg'), 'utf8')).toBe('charlie');
    expect(fs.readFileSync(local(sb, 'Photos/2019.jpg'), 'utf8')).toBe('delta');
  });

  it('5: --older-than 24h selects by the indexed mtime', async () => {
    // setup: mtimes relative to the tests' fixed now, set before indexing
    const sb = makeSandbox({ 'old.jpg': 'old bytes', 'new.jpg': 'new bytes' });
    const nowSeconds = Number(NOW / 1_000_000_000n);
    setMtimeSeconds(local(sb, 'old.jpg'), nowSeconds - 3 * 86_400);
    setMtimeSeconds(local(sb, 'new.jpg'), nowSeconds - 3_600);
    await setup(sb, ['index', 'photos']);
    for (const dest of TARGETS) await setup(sb, ['sync', 'photos', '--to', dest, '--init']);
    // the disk's mtime moving later does not matter for selection: the index decides
    setMtimeSeconds(local(sb, 'new.jpg'), nowSeconds - 3_600);
    // act
    const result = offload(sb, '.', '--older-than', '24h');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^offloaded old\.jpg$/m);
    expect(result.stdout).toMatch(/left out 1 file\(s\) not older than --older-than/);
    expect(rowStatuses(sb)).toEqual({ 'new.jpg': 'present', 'old.jpg': 'offloaded' });
    expect(fs.readFileSync(local(sb, 'new.jpg'), 'utf8')).toBe('new bytes');
  });

  it('6: a selector matching nothing warns, naming it, and nothing else happens', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const runsBefore = runList(sb);
    // act
    const result = offload(sb, 'Photos/1999');
    // expect
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: 'Photos\/1999' matches no present file in the index of volume 'photos'/);
    expect(result.stdout).toMatch(/nothing selected; nothing was done/);
    expect(runList(sb)).toEqual(runsBefore);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
  });

  it('7: --dry-run prints the decision and changes nothing: no run row, same database bytes, no file read', async () => {
    // setup: one file allowed, one refused (evidence-behind); a third deleted from disk behind
    // the index's back, which a dry run must not notice because it reads nothing but the index
    const sb = await seeded({ 'a.jpg': 'alpha', 'gone.jpg': 'golf' });
    fs.writeFileSync(local(sb, 'b.jpg'), 'bravo');
    await setup(sb, ['index', 'photos']);
    fs.rmSync(local(sb, 'gone.jpg'));
    const dbFiles = () =>
      Object.fromEntries(
        fs
          .readdirSync(sb.dir)
          .filter((name) => name.startsWith('index.db'))
          .map((name) => [name, crypto.createHash('sha256').update(fs.readFileSync(path.join(sb.dir, name))).digest('hex')]),
      );
    const before = { db: dbFiles(), runs: runList(sb), rows: rowStatuses(sb) };
    // act
    const result = offload(sb, '.', '--dry-run');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^would offload a\.jpg$/m);
    expect(result.stdout).toMatch(/^would offload gone\.jpg$/m);
    expect(result.stdout).toContain('refused on nas: evidence-behind, 1 file(s)');
    expect(result.stdout).toMatch(/dry run: would offload 2 of 3 file\(s\) .*; nothing was deleted/);
    expect(totalsOf(result)).toMatchObject({ offloaded: '0', not_durable: '1', run: '-' });
    expect(dbFiles()).toEqual(before.db);
    expect(runList(sb)).toEqual(before.runs);
    expect(rowStatuses(sb)).toEqual(before.rows);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
  });
});

describe('the report', () => {
  it('--json is one parseable document with the totals; warnings stay on stderr', async () => {
    // setup: one allowed, one refused, one selector that matches nothing
    const sb = await seeded({ 'a.jpg': 'alpha' });
    fs.writeFileSync(local(sb, 'b.jpg'), 'bravo');
    await setup(sb, ['index', 'photos']);
    // act
    const { result, report } = offloadJson(sb, 'a.jpg', 'b.jpg', 'nothing-here');
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout.trim().startsWith('{')).toBe(true);
    expect(result.stderr).toMatch(/warning: 'nothing-here' matches no present file/);
    expect(report.dryRun).toBe(false);
    expect(report.totals).toEqual({ offloaded: 1, notDurable: 1, drift: 0, errors: 0, run: report.execution!.runId });
    expect(report.unmatchedSelectors.map((u) => u.selector)).toEqual(['nothing-here']);
    expect(report.targets).toEqual([
      { target: 'nas', satisfied: 1, of: 2 },
      { target: 'offsite', satisfied: 1, of: 2 },
    ]);
    expect(report.refusals.map((r) => [r.target, r.reason, r.count, r.paths])).toEqual([
      ['nas', 'evidence-behind', 1, ['b.jpg']],
      ['offsite', 'evidence-behind', 1, ['b.jpg']],
    ]);
  });

  it('--per-file lists every blocked path; without it a bounded sample says how many more; --strict exits 3', async () => {
    // setup: 13 files, offsite never pushed
    const files: Tree = {};
    for (let i = 0; i < 13; i++) files[`img-${String(i).padStart(2, '0')}.jpg`] = `bytes ${i}`;
    const sb = await seeded(files, { seed: ['nas'] });
    // act
    const sampled = offload(sb, '.');
    const perFile = offload(sb, '.', '--per-file', '--strict');
    // expect
    expect(sampled.code).toBe(0);
    const listed = (out: string) => out.split('\n').filter((l) => /^ {4}img-\d\d\.jpg$/.test(l)).length;
    expect(listed(sampled.stdout)).toBe(10);
    expect(sampled.stdout).toContain('    ... and 3 more (--per-file lists them all)');
    expect(perFile.code).toBe(3);
    expect(listed(perFile.stdout)).toBe(13);
    expect(perFile.stdout).not.toMatch(/more \(--per-file/);
    expect(Object.keys(files).every((f) => fs.existsSync(local(sb, f)))).toBe(true);
  });
});
