// sync and verify end to end on local destinations: read-back, the version vector, the copy
// ledger, alarms, and the rule that verified_at_ns moves only on genuine re-verification.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { bin, binSpawn, cleanupTempDirs, cli, DAY_NS, EvidenceReport, json, makeSandbox, RunsReport, Sandbox, StatusReport, SyncReport, TEST_NOW_NS, waitForFile, withConfig } from '../helpers.js';
import { copyAt } from '../scenarios.js';

afterEach(cleanupTempDirs);

type Component = EvidenceReport['components'][number];

async function evidence(sb: Sandbox): Promise<Component[]> {
  const result = await cli(withConfig(sb, '--json', 'evidence', 'photos'));
  return json<EvidenceReport>(result).components;
}

async function component(sb: Sandbox, destination: string): Promise<Component | undefined> {
  return (await evidence(sb)).find((c) => c.destination === destination);
}

async function indexAndSync(sb: Sandbox, nowNs = TEST_NOW_NS, ...syncArgs: string[]) {
  const indexed = await cli(withConfig(sb, 'index', 'photos'), { nowNs });
  expect(indexed.code, indexed.stderr).toBe(0);
  return cli(withConfig(sb, 'sync', 'photos', ...syncArgs), { nowNs });
}

describe('sync', () => {
  it('pushes the present set, reads it back, and records a content-verified vector', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'sub/b.jpg': 'bravo' });
    // act
    const synced = await indexAndSync(sb, TEST_NOW_NS, '--init');
    // expect
    expect(synced.code, synced.stderr + synced.stdout).toBe(0);
    for (const dest of ['nas', 'offsite']) {
      expect(fs.readFileSync(copyAt(sb, dest, 'a.jpg'), 'utf8')).toBe('alpha');
      expect(fs.readFileSync(copyAt(sb, dest, 'sub/b.jpg'), 'utf8')).toBe('bravo');
      expect(fs.existsSync(path.join(sb.destinations[dest], '.squirrel-destination'))).toBe(true);
      const c = await component(sb, dest);
      expect(c).toMatchObject({ originRunId: 1, verifyMethod: 'blake3-readback', version: 1, verifiedAtNs: TEST_NOW_NS.toString() });
    }
  });

  it('a namespace large enough for the listing thread: nothing new is sent again, and copies deleted or truncated behind squirrel are sent again', async () => {
    // setup: past the size where the destination's listing runs on its own thread
    const files: Record<string, string> = {};
    for (let i = 0; i < 20_100; i++) files[`${['a', 'a-b', 'a/a', 'é'][i % 4]}/${Math.floor(i / 400)}/f${i}`] = `file ${i}`;
    const sb = makeSandbox(files, { destinations: ['nas'] });
    const first = await indexAndSync(sb, TEST_NOW_NS, '--init');
    expect(first.code, first.stderr).toBe(0);
    // act
    const again = json<SyncReport>(await cli(withConfig(sb, '--json', 'sync', 'photos'), { nowNs: TEST_NOW_NS }));
    fs.rmSync(copyAt(sb, 'nas', 'a-b/0/f1'));
    fs.truncateSync(copyAt(sb, 'nas', 'é/50/f20003'), 2);
    const repaired = json<SyncReport>(await cli(withConfig(sb, '--json', 'sync', 'photos'), { nowNs: TEST_NOW_NS }));
    // expect
    expect(again.results[0]).toMatchObject({ status: 'success', sentFiles: 0, alreadyThereFiles: 20_100 });
    expect(repaired.results[0]).toMatchObject({ status: 'success', sentFiles: 2, alreadyThereFiles: 20_098 });
    expect(fs.readFileSync(copyAt(sb, 'nas', 'a-b/0/f1'), 'utf8')).toBe('file 1');
    expect(fs.readFileSync(copyAt(sb, 'nas', 'é/50/f20003'), 'utf8')).toBe('file 20003');
  }, 120_000);

  it('refuses a missing destination root (an unmounted drive) and an unmarked one, changing no evidence', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    fs.rmSync(sb.destinations.nas, { recursive: true });
    // act
    const missing = await indexAndSync(sb, TEST_NOW_NS, '--to', 'nas');
    const unmarked = await cli(withConfig(sb, 'sync', 'photos', '--to', 'offsite'));
    // expect
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/does not exist \(is the drive unmounted\?\)/);
    expect(fs.existsSync(sb.destinations.nas)).toBe(false);
    expect(unmarked.code).toBe(1);
    expect(unmarked.stdout).toMatch(/no \.squirrel-destination marker/);
    expect(await evidence(sb)).toEqual([]);
  });

  it('--dry-run reports what would be sent and writes nothing', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    await cli(withConfig(sb, 'index', 'photos'));
    // act
    const dry = await cli(withConfig(sb, 'sync', 'photos', '--dry-run'));
    // expect
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would send 1 file/);
    expect(fs.readdirSync(sb.destinations.nas)).toEqual([]);
    const runs = json<RunsReport>(await cli(withConfig(sb, '--json', 'runs')));
    expect(runs.runs.map((r) => r.kind)).toEqual(['index']);
  });

  it('moves different bytes at a destination path into history instead of overwriting them', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'new bytes' });
    fs.mkdirSync(path.join(sb.destinations.nas, 'photos'), { recursive: true });
    fs.writeFileSync(copyAt(sb, 'nas', 'a.jpg'), 'somebody else wrote this');
    // act
    const synced = await indexAndSync(sb, TEST_NOW_NS, '--to', 'nas', '--init');
    // expect
    expect(synced.code, synced.stdout).toBe(0);
    expect(fs.readFileSync(copyAt(sb, 'nas', 'a.jpg'), 'utf8')).toBe('new bytes');
    const history = path.join(sb.destinations.nas, 'photos', '.squirrel-history');
    const [runDir] = fs.readdirSync(history);
    expect(fs.readFileSync(path.join(history, runDir, 'a.jpg'), 'utf8')).toBe('somebody else wrote this');
  });

  it('a file that fails to land leaves the vector where it was and the run partial', async () => {
    // setup: a first complete sync, then a new file whose destination path is blocked by a directory
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    await indexAndSync(sb, TEST_NOW_NS, '--to', 'nas', '--init');
    const before = await component(sb, 'nas');
    fs.writeFileSync(path.join(sb.volumePath, 'b.jpg'), 'bravo');
    fs.mkdirSync(copyAt(sb, 'nas', 'b.jpg/x'), { recursive: true });
    // act
    const synced = await indexAndSync(sb, TEST_NOW_NS + DAY_NS, '--to', 'nas');
    // expect
    expect(synced.code).toBe(1);
    expect(synced.stdout).toMatch(/partial/);
    expect(synced.stdout).toMatch(/failed: b\.jpg/);
    expect(await component(sb, 'nas')).toEqual(before);
  });
});

describe('verify', () => {
  it.each([
    ['corrupt', (file: string) => fs.writeFileSync(file, 'alphX'), /CORRUPT: photos\/a\.jpg/],
    ['truncated', (file: string) => fs.truncateSync(file, 2), /CORRUPT: photos\/a\.jpg/],
    ['deleted', (file: string) => fs.rmSync(file), /MISSING: photos\/a\.jpg/],
  ])('a %s copy: verify exits 1 naming it, keeps verified_at, raises an alarm; the next sync repairs and re-stamps', async (_name, damage, pattern) => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    await indexAndSync(sb, TEST_NOW_NS, '--to', 'nas', '--init');
    const before = await component(sb, 'nas');
    damage(copyAt(sb, 'nas', 'a.jpg'));
    // act
    const verified = await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: TEST_NOW_NS + DAY_NS });
    // expect
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(pattern);
    expect(await component(sb, 'nas')).toEqual(before);
    const status = await cli(withConfig(sb, 'status', 'photos', '--check'), { nowNs: TEST_NOW_NS + DAY_NS });
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(/found missing or corrupt/);

    // act: the next sync re-sends the lost copy and only then clears the alarm
    const repaired = await cli(withConfig(sb, 'sync', 'photos', '--to', 'nas'), { nowNs: TEST_NOW_NS + 2n * DAY_NS });
    // expect
    expect(repaired.code, repaired.stdout).toBe(0);
    expect(fs.readFileSync(copyAt(sb, 'nas', 'a.jpg'), 'utf8')).toBe('alpha');
    const after = await component(sb, 'nas');
    // b.jpg was last re-read by the day-1 verify, a.jpg on day 2: the honest stamp is day 1
    expect(after!.verifiedAtNs).toBe((TEST_NOW_NS + DAY_NS).toString());
    const reverify = await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: TEST_NOW_NS + 3n * DAY_NS });
    expect(reverify.code, reverify.stdout).toBe(0);
    expect((await component(sb, 'nas'))!.verifiedAtNs).toBe((TEST_NOW_NS + 3n * DAY_NS).toString());
    const status2 = json<StatusReport>(
      await cli(withConfig(sb, '--json', 'status', 'photos'), { nowNs: TEST_NOW_NS + 3n * DAY_NS }),
    );
    expect(status2.volumes[0].targets.find((t) => t.destination === 'nas')).toMatchObject({ light: 'green', alarms: [] });
  });

  it('reads the ledger a chunk at a time: past the first chunk, every copy is read once and a damaged one is named', async () => {
    // setup: more copies than verify reads from the ledger at once (1024), one damaged late in the order
    const files = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`f/${String(i).padStart(4, '0')}.jpg`, `bytes ${i}`]));
    const sb = makeSandbox(files);
    await indexAndSync(sb, TEST_NOW_NS, '--to', 'nas', '--init');
    fs.writeFileSync(copyAt(sb, 'nas', 'f/1050.jpg'), 'damaged');
    // act
    const verified = await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: TEST_NOW_NS + DAY_NS });
    // expect
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/CORRUPT: photos\/f\/1050\.jpg/);
    expect(verified.stdout).toMatch(/checked=1100\/1100 ok=1099 problems=1/);
  });

  it('an unreadable destination is a failed run that changes no evidence', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    await indexAndSync(sb, TEST_NOW_NS, '--to', 'nas', '--init');
    const before = await component(sb, 'nas');
    fs.rmSync(sb.destinations.nas, { recursive: true });
    // act
    const verified = await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: TEST_NOW_NS + DAY_NS });
    // expect
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/failed/);
    expect(await component(sb, 'nas')).toEqual(before);
  });
});

describe('verified_at_ns moves only on genuine re-verification', () => {
  it('follows each path that writes the vector', async () => {
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    const day = (n: number) => TEST_NOW_NS + BigInt(n) * DAY_NS;

    // sync day 0: created, verified now
    await indexAndSync(sb, day(0), '--to', 'nas', '--init');
    let c = (await component(sb, 'nas'))!;
    expect(c).toMatchObject({ version: 1, verifiedAtNs: day(0).toString(), updatedAtNs: day(0).toString() });

    // sync day 1 with nothing new: nothing re-read, no write at all (equal-value touch)
    await cli(withConfig(sb, 'sync', 'photos', '--to', 'nas'), { nowNs: day(1) });
    c = (await component(sb, 'nas'))!;
    expect(c).toMatchObject({ version: 1, verifiedAtNs: day(0).toString(), updatedAtNs: day(0).toString() });

    // verify day 2, full pass: re-stamped to day 2, by the method the docs name for it
    await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: day(2) });
    c = (await component(sb, 'nas'))!;
    expect(c).toMatchObject({ version: 2, verifiedAtNs: day(2).toString(), updatedAtNs: day(2).toString(), verifyMethod: 'blake3-reverify' });

    // verify again at the same instant: equal value, no write
    await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: day(2) });
    expect((await component(sb, 'nas'))!.version).toBe(2);

    // a 50% sample on day 3 re-reads one copy: the stamp is the oldest copy, still day 2
    await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas', '--sample', '50'), { nowNs: day(3) });
    c = (await component(sb, 'nas'))!;
    expect(c).toMatchObject({ version: 2, verifiedAtNs: day(2).toString() });
    // the other half on day 4: now the oldest is day 3
    await cli(withConfig(sb, 'verify', 'photos', '--to', 'nas', '--sample', '50'), { nowNs: day(4) });
    c = (await component(sb, 'nas'))!;
    expect(c).toMatchObject({ version: 3, verifiedAtNs: day(3).toString() });

    // day 5: a new file; sync advances the run but stamps the oldest copy read (day 3), not "now"
    fs.writeFileSync(path.join(sb.volumePath, 'c.jpg'), 'charlie');
    await indexAndSync(sb, day(5), '--to', 'nas');
    c = (await component(sb, 'nas'))!;
    expect(c.originRunId).toBeGreaterThan(1);
    expect(c).toMatchObject({ version: 4, verifiedAtNs: day(3).toString(), updatedAtNs: day(5).toString() });

    // history: one row per applied write, versions 1..4 in order
    const history = json<EvidenceReport>(await cli(withConfig(sb, '--json', 'evidence', 'photos', '--history')));
    expect(history.history!.map((h) => [h.version, h.change])).toEqual([
      [1, 'create'],
      [2, 'reverify'],
      [3, 'reverify'],
      [4, 'advance'],
    ]);
  });
});

describe('crashes and races (real binary)', () => {
  it('a sync SIGKILLed before it records leaves the vector unchanged; the next sync completes', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    expect(bin(withConfig(sb, 'index', 'photos')).code).toBe(0);
    const pause = path.join(sb.dir, 'pause');
    // act
    const child = binSpawn(withConfig(sb, 'sync', 'photos', '--to', 'nas', '--init'), {
      env: { SQUIRREL_TEST_PAUSE_AT: 'sync.before-record', SQUIRREL_TEST_PAUSE_FILE: pause },
    });
    await waitForFile(pause);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // expect: the landed files are facts in the ledger, but the vector never moved
    const store = Store.open(sb.dbPath);
    expect(store.evidence.components(store.volume('photos')!.id)).toEqual([]);
    store.close();
    const next = bin(withConfig(sb, 'sync', 'photos', '--to', 'nas'));
    expect(next.stderr).toMatch(/run 2 was interrupted .* marked aborted/);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    const runs = json<RunsReport>(bin(withConfig(sb, '--json', 'runs')));
    expect(runs.runs.map((r) => `${r.kind}:${r.status}`)).toEqual(['sync:success', 'sync:aborted', 'index:success']);
    expect((await component(sb, 'nas'))!.version).toBe(1);
  });

  it('a verify and a sync racing on one destination lose no vector update', async () => {
    // setup: synced on day 0; a new file indexed
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    expect(bin(withConfig(sb, 'index', 'photos'), { nowNs: TEST_NOW_NS }).code).toBe(0);
    expect(bin(withConfig(sb, 'sync', 'photos', '--to', 'nas', '--init'), { nowNs: TEST_NOW_NS }).code).toBe(0);
    fs.writeFileSync(path.join(sb.volumePath, 'b.jpg'), 'bravo');
    expect(bin(withConfig(sb, 'index', 'photos'), { nowNs: TEST_NOW_NS }).code).toBe(0);
    const pause = path.join(sb.dir, 'pause');
    // act: verify re-reads on day 1 and pauses before it writes the vector; sync advances it meanwhile
    const verify = binSpawn(withConfig(sb, 'verify', 'photos', '--to', 'nas'), {
      nowNs: TEST_NOW_NS + DAY_NS,
      env: { SQUIRREL_TEST_PAUSE_AT: 'verify.before-restamp', SQUIRREL_TEST_PAUSE_FILE: pause },
    });
    let verifyOut = '';
    verify.stdout.on('data', (d) => (verifyOut += d));
    await waitForFile(pause);
    const synced = bin(withConfig(sb, 'sync', 'photos', '--to', 'nas'), { nowNs: TEST_NOW_NS + 2n * DAY_NS });
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    fs.rmSync(pause);
    const code = await new Promise((resolve) => verify.once('exit', resolve));
    // expect: verify saw the changed version and re-evaluated on fresh rows (finding its stamp
    // already equal, it wrote nothing); the sync's advance was not lost
    expect(code).toBe(0);
    expect(verifyOut).toMatch(/re-evaluated/);
    const c = (await component(sb, 'nas'))!;
    expect(c.originRunId).toBe(3); // the sync's advance survived
    // a.jpg re-read on day 1, b.jpg read back on day 2: the oldest is day 1
    expect(c.verifiedAtNs).toBe((TEST_NOW_NS + DAY_NS).toString());
    const store = Store.open(sb.dbPath);
    const history = store.evidence.history(store.volume('photos')!.id);
    store.close();
    expect(history.map((h) => h.version)).toEqual([1, 2]);
    expect(history.at(-1)!.originRunId).toBe(c.originRunId);
  });
});
