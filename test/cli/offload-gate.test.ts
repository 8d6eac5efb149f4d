// Offload through the real binary, SPEC §6 scenarios 1-4 and 13-16: what the gate refuses on
// each target and why (no evidence, evidence behind, too old, a lost copy, a re-acquired file,
// a method that did not read the bytes), and that the act each refusal names clears it. What
// counts is on disk: every gone file has byte-identical copies, hashed here, on every target.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, cli, DAY_NS, json, OffloadReport, rowStatuses, runList, Sandbox, snapshotTree, withConfig, withStore } from '../helpers.js';
import { copyAt, expectDurableEverywhere, local, NOW, offload, offloadJson, runCounts, seeded, setup, TARGETS, totalsOf } from '../scenarios.js';

afterEach(cleanupTempDirs);

describe('scenarios 1-4: the gate, target by target', () => {
  it('1: two files, both targets seeded -> both offloaded, rows offloaded, one offload run, success', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'sub/b.jpg': 'bravo' });
    const destinationsBefore = snapshotTree(path.join(sb.dir, 'dest'));
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(snapshotTree(path.join(sb.dir, 'dest'))).toEqual(destinationsBefore);
    expect(result.stdout).toMatch(/^offloaded a\.jpg$/m);
    expect(result.stdout).toMatch(/^offloaded sub\/b\.jpg$/m);
    expect(result.stdout).toMatch(/^nas: satisfied for 2 of 2$/m);
    expect(result.stdout).toMatch(/^offsite: satisfied for 2 of 2$/m);
    const totals = totalsOf(result);
    expect(totals).toMatchObject({ offloaded: '2', not_durable: '0', drift: '0', errors: '0' });
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expect(fs.existsSync(local(sb, 'sub/b.jpg'))).toBe(false);
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
    expectDurableEverywhere(sb, 'sub/b.jpg', 'bravo');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'sub/b.jpg': 'offloaded' });
    expect(runList(sb)).toEqual(['index:success', 'sync:success', 'sync:success', 'offload:success']);
    expect(runCounts(sb, Number(totals.run))).toEqual({ offloaded: 2, not_durable: 0, drift: 0, errors: 0, reevaluated: 0 });
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);
  });

  it('2: only one target seeded -> no-evidence naming the other target and the origin node; allowed after sync', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, { seed: ['nas'] });
    // act
    const refused = offload(sb, '.');
    // expect: a normal outcome, nothing deleted, a successful run that offloaded nothing
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stdout).toContain('refused on offsite: no-evidence, 2 file(s): offsite has no evidence for content from origin laptop');
    expect(refused.stdout).toContain('  no component for origin laptop');
    expect(refused.stdout).toContain('  next: squirrel sync photos --to offsite');
    expect(refused.stdout).not.toMatch(/refused on nas/);
    expect(refused.stdout).toMatch(/^nas: satisfied for 2 of 2$/m);
    expect(refused.stdout).toMatch(/^offsite: satisfied for 0 of 2$/m);
    const totals = totalsOf(refused);
    expect(totals).toMatchObject({ offloaded: '0', not_durable: '2' });
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(local(sb, 'b.jpg'), 'utf8')).toBe('bravo');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present', 'b.jpg': 'present' });
    expect(runList(sb).at(-1)).toBe('offload:success');
    expect(runCounts(sb, Number(totals.run))).toMatchObject({ offloaded: 0, not_durable: 2 });

    // act: the act the report named clears it
    await setup(sb, ['sync', 'photos', '--to', 'offsite', '--init']);
    const allowed = offload(sb, '.');
    // expect
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(totalsOf(allowed)).toMatchObject({ offloaded: '2', not_durable: '0' });
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'offloaded' });
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
    expectDurableEverywhere(sb, 'b.jpg', 'bravo');
  });

  it('3: vector at run 1, a file added by a later index run -> the old file offloads, the new one is evidence-behind', async () => {
    // setup: the vector covers index run 1; b.jpg arrives in a later index run, not yet pushed
    const sb = await seeded({ 'a.jpg': 'alpha' });
    fs.writeFileSync(local(sb, 'b.jpg'), 'bravo');
    const indexed = await setup(sb, ['--json', 'index', 'photos']);
    const newRunId = json<{ runId: number }>(indexed).runId;
    expect(newRunId).toBeGreaterThan(1);
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^offloaded a\.jpg$/m);
    for (const target of TARGETS) {
      expect(result.stdout).toContain(`refused on ${target}: evidence-behind, 1 file(s)`);
    }
    expect(result.stdout).toContain(`  covers origin laptop through run 1, this content needs run ${newRunId}`);
    expect(result.stdout).toContain('  next: squirrel sync photos --to nas');
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expect(fs.readFileSync(local(sb, 'b.jpg'), 'utf8')).toBe('bravo');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'present' });
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
  });

  it('4: a volume without offload_requires is refused before any work, with no run row', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' });
    sb.writeConfig({ volumes: { photos: { path: sb.volumePath, sync_to: TARGETS } } });
    const runsBefore = runList(sb);
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/volume 'photos' has no offload_requires, so offload refuses to delete anything from it/);
    expect(result.stderr).toMatch(/add `offload_requires: \[<destination>, \.\.\.\]` under volumes\.photos/);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(runList(sb)).toEqual(runsBefore);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
  });
});

describe('scenario 13: offload_max_evidence_age 30d', () => {
  const KNOB = { offload_max_evidence_age: '30d' };

  /** Write a NULL verified_at_ns the way any writer would: through the store's CAS write. */
  function forgetVerificationTime(sb: Sandbox): void {
    withStore(sb, (store, volumeId) =>
      store.immediate(() => {
        for (const c of store.evidence.components(volumeId)) {
          const write = store.evidence.writeComponent({ ...c, nowNs: NOW, verifiedAtNs: null, runId: null, expectedVersion: c.version });
          expect(write.applied).toBe(true);
        }
      }),
    );
  }

  function withoutKnob(sb: Sandbox): OffloadReport {
    sb.writeConfig({ volumes: { photos: { path: sb.volumePath, sync_to: TARGETS, offload_requires: TARGETS } } });
    const { report } = offloadJson(sb, '.', '--dry-run');
    sb.writeConfig({ volumes: { photos: { path: sb.volumePath, sync_to: TARGETS, offload_requires: TARGETS, ...KNOB } } });
    return report;
  }

  it('verified 90d ago, 2d in the future, or never -> refused with age, limit and provenance; 1d ago passes; knob absent: all pass', async () => {
    // setup: pushed 90 days before now
    const sb = await seeded({ 'a.jpg': 'alpha' }, { volume: KNOB, nowNs: NOW - 90n * DAY_NS });

    // act + expect: 90d old
    const old = offloadJson(sb, '.');
    expect(old.result.code).toBe(0);
    expect(old.report.refusals.map((r) => [r.target, r.reason])).toEqual([
      ['nas', 'evidence-too-old'],
      ['offsite', 'evidence-too-old'],
    ]);
    expect(old.report.refusals[0].coordinates).toEqual(['origin laptop: verified 90d ago, limit 30d, locally verified']);
    expect(old.report.refusals[0].next).toBe('squirrel verify photos --to nas');
    expect(old.report.totals.offloaded).toBe(0);
    expect(withoutKnob(sb).allowed.paths).toEqual(['a.jpg']);

    // act + expect: a verify stamped 2 days in the future (a wrong clock)
    await setup(sb, ['verify', 'photos'], NOW + 2n * DAY_NS);
    const future = offloadJson(sb, '.');
    expect(future.report.refusals.map((r) => [r.target, r.reason])).toEqual([
      ['nas', 'evidence-from-future'],
      ['offsite', 'evidence-from-future'],
    ]);
    expect(future.report.refusals[0].coordinates[0]).toMatch(/^origin laptop: verified 2d in the future, skew tolerance 5m, locally verified$/);
    expect(future.report.totals.offloaded).toBe(0);
    expect(withoutKnob(sb).allowed.paths).toEqual(['a.jpg']);

    // act + expect: verification time unknown (NULL)
    forgetVerificationTime(sb);
    const unknown = offloadJson(sb, '.');
    expect(unknown.report.refusals.map((r) => [r.target, r.reason])).toEqual([
      ['nas', 'evidence-age-unknown'],
      ['offsite', 'evidence-age-unknown'],
    ]);
    expect(unknown.report.refusals[0].coordinates).toEqual(['origin laptop: verification time unknown, limit 30d, locally verified']);
    expect(unknown.report.totals.offloaded).toBe(0);
    expect(withoutKnob(sb).allowed.paths).toEqual(['a.jpg']);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');

    // act + expect: verified 1 day ago -> offloaded
    await setup(sb, ['verify', 'photos'], NOW - DAY_NS);
    const fresh = offloadJson(sb, '.');
    expect(fresh.report.refusals).toEqual([]);
    expect(fresh.report.execution!.offloaded).toEqual(['a.jpg']);
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
  });
});

describe('scenarios 14-16: copies, re-acquired files, methods', () => {
  it('14: a copy verify found corrupt blocks only that file, only on that target', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    fs.writeFileSync(copyAt(sb, 'nas', 'a.jpg'), 'alphX');
    const verified = await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: NOW });
    expect(verified.code).toBe(1);
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^offloaded b\.jpg$/m);
    expect(result.stdout).toContain('refused on nas: lost-at-destination, 1 file(s)');
    expect(result.stdout).toContain('  a verify found the copy at nas corrupt');
    expect(result.stdout).toContain('  next: squirrel sync photos --to nas');
    expect(result.stdout).not.toMatch(/refused on offsite/);
    expect(result.stdout).toMatch(/^nas: satisfied for 1 of 2$/m);
    expect(result.stdout).toMatch(/^offsite: satisfied for 2 of 2$/m);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present', 'b.jpg': 'offloaded' });
    expectDurableEverywhere(sb, 'b.jpg', 'bravo');
  });

  it('15: a file deleted and restored is not-pushed-since-appeared until a sync to each target completes', async () => {
    // setup: a.jpg goes missing in one index run and comes back in the next
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    fs.rmSync(local(sb, 'a.jpg'));
    await setup(sb, ['index', 'photos']);
    expect(rowStatuses(sb)['a.jpg']).toBe('missing');
    fs.writeFileSync(local(sb, 'a.jpg'), 'alpha');
    const reappeared = json<{ runId: number }>(await setup(sb, ['--json', 'index', 'photos'])).runId;
    // act
    const first = offloadJson(sb, '.');
    // expect: both targets refuse a.jpg; b.jpg goes
    expect(first.report.execution!.offloaded).toEqual(['b.jpg']);
    expect(first.report.refusals.map((r) => [r.target, r.reason, r.paths])).toEqual([
      ['nas', 'not-pushed-since-appeared', ['a.jpg']],
      ['offsite', 'not-pushed-since-appeared', ['a.jpg']],
    ]);
    expect(first.report.refusals[0].coordinates).toEqual([`last successful push to nas is run 2, this file became present in run ${reappeared}`]);

    // act: a sync to nas clears nas only
    await setup(sb, ['sync', 'photos', '--to', 'nas']);
    const second = offloadJson(sb, '.');
    // expect
    expect(second.report.refusals.map((r) => [r.target, r.reason])).toEqual([['offsite', 'not-pushed-since-appeared']]);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');

    // act: and a sync to offsite clears the last one
    await setup(sb, ['sync', 'photos', '--to', 'offsite']);
    const third = offloadJson(sb, '.');
    // expect
    expect(third.report.execution!.offloaded).toEqual(['a.jpg']);
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
  });

  it('16: presence-only or unknown verification methods -> not-content-verified until a verify reads the bytes', async () => {
    // setup: the components now rest on presence (nas) and on a method nobody knows (offsite)
    const sb = await seeded({ 'a.jpg': 'alpha' });
    withStore(sb, (store, volumeId) =>
      store.immediate(() => {
        for (const c of store.evidence.components(volumeId)) {
          const verifyMethod = c.destination === 'nas' ? 'presence' : 'made-up-method';
          expect(store.evidence.writeComponent({ ...c, verifyMethod, nowNs: NOW, runId: null, expectedVersion: c.version }).applied).toBe(true);
        }
      }),
    );
    // act
    const refused = offload(sb, '.');
    // expect
    expect(refused.stdout).toContain('refused on nas: not-content-verified, 1 file(s)');
    expect(refused.stdout).toContain("  origin laptop: method 'presence' is not content-verified, locally verified");
    expect(refused.stdout).toContain("  origin laptop: method 'made-up-method' is not content-verified, locally verified");
    expect(refused.stdout).toContain('  next: squirrel verify photos --to offsite');
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');

    // act: a verify re-reads the bytes and records a content-verified method
    await setup(sb, ['verify', 'photos']);
    const allowed = offload(sb, '.');
    // expect
    expect(totalsOf(allowed)).toMatchObject({ offloaded: '1', not_durable: '0' });
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
  });
});
