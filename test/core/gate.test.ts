// The offload gate, check by check and scenario by scenario (SPEC §5, §6), on a real SQLite
// store whose evidence is written through the Store API the way sync and verify write it.

import { afterEach, describe, expect, test } from 'vitest';
import { cleanupTempDirs, DAY_NS } from '../helpers.js';
import { formatExactDurationNs as describeLimitNs } from '../../src/duration.js';
import { ContentIdSet, loadGateEvidence, sameEvidenceVersions } from '../../src/core/offload/evidence.js';
import { Gate } from '../../src/core/offload/gate.js';
import { Rechecker } from '../../src/core/offload/recheck.js';
import { REFUSAL_REASONS } from '../../src/core/offload/refusals.js';
import { DEFAULT_SKEW_TOLERANCE_NS, policyFromVolume } from '../../src/core/offload/policy.js';
import { planOffload } from '../../src/core/offload/plan.js';
import { parseSelectors } from '../../src/core/selectors.js';
import { UsageError } from '../../src/errors.js';
import { OffloadWorld } from './offload-world.js';

const worlds: OffloadWorld[] = [];
function world(options: ConstructorParameters<typeof OffloadWorld>[0] = {}): OffloadWorld {
  const w = new OffloadWorld(options);
  worlds.push(w);
  return w;
}

afterEach(() => {
  for (const w of worlds.splice(0)) w.close();
  cleanupTempDirs();
});

const THIRTY_DAYS_MS = 30 * 86_400_000;

describe('policy', () => {
  test('is built from the volume config: targets, max age in ns, a 5 minute skew tolerance', () => {
    // setup
    const w = world({ maxAgeMs: THIRTY_DAYS_MS });

    // act
    const policy = w.policy();

    // expect
    expect(policy).toEqual({ volume: 'photos', requiredTargets: ['nas', 'offsite'], maxEvidenceAgeNs: 30n * DAY_NS, skewToleranceNs: 300_000_000_000n });
    expect(DEFAULT_SKEW_TOLERANCE_NS).toBe(300_000_000_000n);
  });

  test('a volume without offload_requires has no policy: usage error that says what to add', () => {
    // setup
    const w = world();

    // act
    const attempt = () => policyFromVolume(w.volumeConfig({ offloadRequires: null }));

    // expect
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(/offload_requires/);
    expect(() => policyFromVolume(w.volumeConfig({ offloadRequires: [] }))).toThrow(UsageError);
  });
});

describe('the six checks', () => {
  test('seeded on both targets: no refusal', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a', 'b.jpg': 'b' });
    w.sync('nas');
    w.sync('offsite');

    // act
    const verdicts = ['a.jpg', 'b.jpg'].map((p) => w.judge(p));

    // expect
    expect(verdicts).toEqual([[], []]);
  });

  test('scenario 2: one target unseeded -> no-evidence naming the target and the origin node', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a', 'b.jpg': 'b' });
    w.sync('nas');

    // act
    const refusals = w.judge('a.jpg');

    // expect
    expect(refusals).toEqual([
      {
        target: 'offsite',
        reason: 'no-evidence',
        summary: 'offsite has no evidence for content from origin laptop',
        next: 'squirrel sync photos --to offsite',
        coordinates: 'no component for origin laptop',
      },
    ]);
    expect(w.reasons('b.jpg')).toEqual(['offsite:no-evidence']);
  });

  test('scenario 3: vector at run 1, a file added by run 2 -> the old file passes, the new one is evidence-behind', () => {
    // setup
    const w = world();
    const firstRun = w.index({ 'old.jpg': 'old' });
    w.sync('nas');
    w.sync('offsite');
    const secondRun = w.index({ 'new.jpg': 'new' });
    // the new bytes even reached nas's ledger; the vector still only covers run 1
    w.recordCopy('nas', 'new.jpg', secondRun);

    // act
    const oldVerdict = w.judge('old.jpg');
    const newVerdict = w.judge('new.jpg');

    // expect
    expect(firstRun).toBe(1);
    expect(oldVerdict).toEqual([]);
    expect(newVerdict.map((r) => [r.target, r.reason, r.coordinates, r.next])).toEqual([
      ['nas', 'evidence-behind', 'covers origin laptop through run 1, this content needs run 4', 'squirrel sync photos --to nas'],
      ['offsite', 'evidence-behind', 'covers origin laptop through run 1, this content needs run 4', 'squirrel sync photos --to offsite'],
    ]);
  });

  test('scenario 9: content changed after the vector was recorded is not offloadable until a new push covers it', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'version 1' });
    w.sync('nas');
    w.sync('offsite');
    w.index({ 'a.jpg': 'version 2' });

    // act
    const before = w.reasons('a.jpg');
    w.sync('nas');
    w.sync('offsite');
    const after = w.reasons('a.jpg');

    // expect
    expect(before).toEqual(['nas:evidence-behind', 'offsite:evidence-behind']);
    expect(after).toEqual([]);
  });

  test('scenario 14: a copy verify found corrupt or missing refuses that file on that target only', () => {
    // setup
    const w = world();
    w.index({ 'corrupt.jpg': 'c', 'missing.jpg': 'm', 'fine.jpg': 'f' });
    w.sync('nas');
    w.sync('offsite');
    w.markCopy('nas', 'corrupt.jpg', 'corrupt');
    w.markCopy('offsite', 'missing.jpg', 'missing');

    // act
    const corrupt = w.judge('corrupt.jpg');
    const missing = w.judge('missing.jpg');
    const fine = w.judge('fine.jpg');

    // expect
    expect(corrupt.map((r) => [r.target, r.reason, r.coordinates, r.next])).toEqual([
      ['nas', 'lost-at-destination', 'a verify found the copy at nas corrupt', 'squirrel sync photos --to nas'],
    ]);
    expect(missing.map((r) => [r.target, r.reason, r.coordinates])).toEqual([['offsite', 'lost-at-destination', 'a verify found the copy at offsite missing']]);
    expect(fine).toEqual([]);
  });

  test('a bad copy refuses even when another ledger row holds the same bytes ok', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'same bytes', 'b.jpg': 'same bytes' });
    w.sync('nas');
    w.sync('offsite');
    w.markCopy('nas', 'a.jpg', 'corrupt');

    // act
    const verdicts = [w.reasons('a.jpg'), w.reasons('b.jpg')];

    // expect: one content, one verdict; a corrupt copy of it anywhere on nas refuses both paths
    expect(verdicts).toEqual([['nas:lost-at-destination'], ['nas:lost-at-destination']]);
  });

  test('no ok ledger row for the content -> lost-at-destination (fail closed), even with a vector and a push', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { copies: false });
    w.sync('offsite');

    // act
    const refusals = w.judge('a.jpg');

    // expect
    expect(refusals.map((r) => [r.target, r.reason, r.coordinates])).toEqual([['nas', 'lost-at-destination', 'no copy at nas is recorded as verified']]);
  });

  test('scenario 15: deleted, indexed missing, restored, indexed present -> not-pushed-since-appeared until a new sync', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas');
    const lastOffsitePush = w.sync('offsite');
    w.index({}, { missing: ['a.jpg'] });
    const reappearedRun = w.index({}, { reappeared: ['a.jpg'] });

    // act
    const whileUnpushed = w.judge('a.jpg');
    w.sync('nas');
    const afterNasPush = w.reasons('a.jpg');

    // expect
    expect(whileUnpushed.map((r) => [r.target, r.reason])).toEqual([
      ['nas', 'not-pushed-since-appeared'],
      ['offsite', 'not-pushed-since-appeared'],
    ]);
    expect(whileUnpushed[1].coordinates).toBe(`last successful push to offsite is run ${lastOffsitePush}, this file became present in run ${reappearedRun}`);
    expect(whileUnpushed[1].next).toBe('squirrel sync photos --to offsite');
    expect(afterNasPush).toEqual(['offsite:not-pushed-since-appeared']);
  });

  test('a sync that did not succeed is not a push; no successful push at all refuses', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { status: 'partial' });
    w.sync('offsite');

    // act
    const refusals = w.judge('a.jpg');

    // expect
    expect(refusals.map((r) => [r.target, r.reason, r.coordinates])).toEqual([['nas', 'not-pushed-since-appeared', 'no successful push to nas yet']]);
  });

  test.each([
    ['presence', 'locally verified'],
    ['size', 'locally verified'],
    ['rsync-said-so', 'locally verified'],
  ])('scenario 16: method %s -> not-content-verified', (method, provenance) => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { method });
    w.sync('offsite');

    // act
    const refusals = w.judge('a.jpg');

    // expect
    expect(refusals).toEqual([
      {
        target: 'nas',
        reason: 'not-content-verified',
        summary: "nas's evidence rests on presence or size, not on the bytes",
        next: 'squirrel verify photos --to nas',
        coordinates: `origin laptop: method '${method}' is not content-verified, ${provenance}`,
      },
    ]);
  });

  test.each(['blake3-readback', 'blake3-reverify', 'b3sum-remote'])('content-verified method %s passes', (method) => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { method });
    w.sync('offsite');

    // act / expect
    expect(w.judge('a.jpg')).toEqual([]);
  });
});

describe('scenario 13: maximum evidence age', () => {
  const cases: [string, bigint | null, number | null, string | null][] = [
    ['verified 90d ago', -90n * DAY_NS, THIRTY_DAYS_MS, 'evidence-too-old'],
    ['verified 1d ago', -1n * DAY_NS, THIRTY_DAYS_MS, null],
    ['verification time unknown', null, THIRTY_DAYS_MS, 'evidence-age-unknown'],
    ['verified 2d in the future', 2n * DAY_NS, THIRTY_DAYS_MS, 'evidence-from-future'],
    ['knob absent, verified 90d ago', -90n * DAY_NS, null, null],
    ['knob absent, verification time unknown', null, null, null],
    ['knob absent, verified 2d in the future', 2n * DAY_NS, null, null],
  ];

  test.each(cases)('%s', (_label, offsetNs, maxAgeMs, expected) => {
    // setup
    const w = world({ maxAgeMs });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { verifiedAtNs: offsetNs === null ? null : w.nowNs + offsetNs });
    w.sync('offsite');

    // act
    const reasons = w.reasons('a.jpg');

    // expect
    expect(reasons).toEqual(expected === null ? [] : [`nas:${expected}`]);
  });

  test('too old names the age, the limit and the provenance, and the act is a verify', () => {
    // setup
    const w = world({ maxAgeMs: THIRTY_DAYS_MS });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { verifiedAtNs: w.nowNs - 41n * DAY_NS });
    const peer = w.store.ensureNode('desktop');
    w.sync('offsite', { verifiedAtNs: w.nowNs - 90n * DAY_NS, sourceNodeId: peer });

    // act
    const refusals = w.judge('a.jpg');

    // expect
    expect(refusals.map((r) => [r.target, r.reason, r.coordinates, r.next])).toEqual([
      ['nas', 'evidence-too-old', 'origin laptop: verified 41d ago, limit 30d, locally verified', 'squirrel verify photos --to nas'],
      ['offsite', 'evidence-too-old', 'origin laptop: verified 90d ago, limit 30d, asserted by peer desktop', 'squirrel verify photos --to offsite'],
    ]);
  });

  test('unknown age and future stamps say so; the future stamp names the clock to fix', () => {
    // setup
    const w = world({ maxAgeMs: THIRTY_DAYS_MS });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { verifiedAtNs: null });
    w.sync('offsite', { verifiedAtNs: w.nowNs + 2n * DAY_NS });

    // act
    const [unknown, future] = w.judge('a.jpg');

    // expect
    expect(unknown.coordinates).toBe('origin laptop: verification time unknown, limit 30d, locally verified');
    expect(future.coordinates).toBe('origin laptop: verified 2d in the future, skew tolerance 5m, locally verified');
    expect(future.next).toBe('check the clock of this machine, then squirrel verify photos --to offsite');
  });

  test('boundaries: exactly max age passes, one ns more refuses; within the skew tolerance passes, beyond refuses', () => {
    // setup
    const w = world({ maxAgeMs: THIRTY_DAYS_MS, targets: ['nas'] });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas');
    const judgeAt = (verifiedAtNs: bigint) => {
      w.writeComponent('nas', { originRunId: 1, verifiedAtNs });
      return w.reasons('a.jpg');
    };

    // act
    const verdicts = [
      judgeAt(w.nowNs - 30n * DAY_NS),
      judgeAt(w.nowNs - 30n * DAY_NS - 1n),
      judgeAt(w.nowNs + DEFAULT_SKEW_TOLERANCE_NS),
      judgeAt(w.nowNs + DEFAULT_SKEW_TOLERANCE_NS + 1n),
    ];

    // expect
    expect(verdicts).toEqual([[], ['nas:evidence-too-old'], [], ['nas:evidence-from-future']]);
  });

  test('staleness only refuses: planning never deletes or rewrites evidence', () => {
    // setup
    const w = world({ maxAgeMs: THIRTY_DAYS_MS });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { verifiedAtNs: w.nowNs - 90n * DAY_NS });
    w.sync('offsite', { verifiedAtNs: null });
    const components = w.store.evidence.components(w.volumeId);
    const history = w.store.evidence.history(w.volumeId);
    const copies = w.targets.map((t) => w.store.evidence.copies(w.volumeId, t));

    // act
    const plan = planOffload(w.store, w.volumeConfig(), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId });

    // expect
    expect(plan.groups.map((g) => `${g.target}:${g.reason}`)).toEqual(['nas:evidence-too-old', 'offsite:evidence-age-unknown']);
    expect(w.store.evidence.components(w.volumeId)).toEqual(components);
    expect(w.store.evidence.history(w.volumeId)).toEqual(history);
    expect(w.targets.map((t) => w.store.evidence.copies(w.volumeId, t))).toEqual(copies);
  });
});

describe('order of the checks', () => {
  test('the first failing check is the reason; clearing it reveals the next, in SPEC order', () => {
    // setup: a file whose content comes from index run 2, a nas vector that fails everything
    const w = world({ targets: ['nas'], maxAgeMs: THIRTY_DAYS_MS });
    w.index({ 'old.jpg': 'old' });
    w.index({ 'a.jpg': 'a' });
    const originRunId = w.file('a.jpg').originRunId;
    const seen: string[] = [];
    const step = () => seen.push(w.reasons('a.jpg')[0] ?? 'allowed');

    // act: fix one thing at a time
    step();
    w.writeComponent('nas', { originRunId: originRunId - 1, method: 'presence', verifiedAtNs: null });
    step();
    w.writeComponent('nas', { originRunId, method: 'presence', verifiedAtNs: null });
    step();
    w.recordCopy('nas', 'a.jpg', originRunId);
    step();
    w.writeComponent('nas', { originRunId, method: 'presence', verifiedAtNs: w.nowNs });
    step();
    w.sync('nas', { copies: false, component: false });
    step();
    w.writeComponent('nas', { originRunId, method: 'blake3-reverify', verifiedAtNs: w.nowNs });
    step();

    // expect
    expect(seen).toEqual([
      'nas:no-evidence',
      'nas:evidence-behind',
      'nas:lost-at-destination',
      'nas:evidence-age-unknown',
      'nas:not-pushed-since-appeared',
      'nas:not-content-verified',
      'allowed',
    ]);
    // name-collision (a sync's refusal, tested below) and copy-not-found (the last look before an unlink) are judged elsewhere
    expect(REFUSAL_REASONS.filter((r) => !['evidence-too-old', 'evidence-from-future', 'name-collision', 'name-not-allowed', 'copy-not-found'].includes(r))).toEqual(
      seen.slice(0, -1).map((s) => s.replace('nas:', '')),
    );
  });

  test('a path the last sync refused as a name collision is refused first, on that target only, with what to rename', () => {
    // setup: fully seeded on both targets; then nas refused Photo.jpg (exFAT folds case)
    const w = world();
    w.index({ 'Photo.jpg': 'upper', 'photo.jpg': 'lower', 'other.jpg': 'x' });
    w.sync('nas');
    const offsiteRun = w.sync('offsite');
    w.store.immediate(() =>
      w.store.places.replaceNameRefusals(w.volumeId, 'nas', [{ path: 'Photo.jpg', reason: 'name-collision', detail: "'Photo.jpg' and 'photo.jpg' are one name at 'nas'" }], offsiteRun),
    );
    // act
    const refusals = w.judge('Photo.jpg');
    // expect
    expect(refusals.map((r) => `${r.target}:${r.reason}`)).toEqual(['nas:name-collision']);
    expect(refusals[0].next).toMatch(/rename/);
    expect(w.reasons('photo.jpg')).toEqual([]);
    expect(w.reasons('other.jpg')).toEqual([]);
  });

  test('a component of another origin node is no evidence for this one', () => {
    // setup
    const w = world({ targets: ['nas'] });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas');
    const desktop = w.store.ensureNode('desktop');
    const evidence = loadGateEvidence(w.store, w.volumeId, w.policy());
    const fromDesktop = { ...w.file('a.jpg'), originNodeId: desktop };

    // act
    const refusals = new Gate(evidence, w.policy(), w.nowNs, w.laptopId).refusals(fromDesktop);

    // expect
    expect(refusals.map((r) => [r.reason, r.coordinates])).toEqual([['no-evidence', 'no component for origin desktop']]);
  });
});

describe('multiple targets', () => {
  test('each required target gets its own first failing reason, in policy order; an unrequired destination is ignored', () => {
    // setup
    const w = world({ targets: ['nas', 'offsite', 'cloud'] });
    w.index({ 'a.jpg': 'a' });
    w.sync('nas', { method: 'presence' });
    w.sync('cloud');
    w.sync('usb-stick', { method: 'presence' });
    w.index({ 'b.jpg': 'b' });
    w.sync('cloud');

    // act
    const a = w.reasons('a.jpg');
    const b = w.reasons('b.jpg');

    // expect
    expect(a).toEqual(['nas:not-content-verified', 'offsite:no-evidence']);
    expect(b).toEqual(['nas:evidence-behind', 'offsite:no-evidence']);
  });

  test('a plan groups by (target, reason) and counts what each target satisfies', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a', 'b.jpg': 'b' });
    w.sync('nas');
    w.sync('offsite');
    w.index({ 'c.jpg': 'c' });
    w.sync('nas');

    // act
    const plan = planOffload(w.store, w.volumeConfig(), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId });

    // expect
    expect([...plan.allowed].map((f) => f.path)).toEqual(['a.jpg', 'b.jpg']);
    expect(plan.groups.map((g) => ({ target: g.target, reason: g.reason, count: g.count, coordinates: g.coordinates, paths: g.paths }))).toEqual([
      { target: 'offsite', reason: 'evidence-behind', count: 1, coordinates: ['covers origin laptop through run 1, this content needs run 4'], paths: ['c.jpg'] },
    ]);
    expect(plan.targets).toEqual([
      { target: 'nas', satisfied: 3, of: 3 },
      { target: 'offsite', satisfied: 2, of: 3 },
    ]);
  });
});

describe('Rechecker: the compare-and-swap before an unlink', () => {
  test('re-judges from fresh rows and reports the versions it used', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas');
    w.sync('offsite');
    const plan = planOffload(w.store, w.volumeConfig(), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId });
    const planned = plan.allowed.at(0);

    // act
    const unchanged = new Rechecker(w.store, w.volumeId, plan.policy, w.nowNs, w.laptopId).recheck(planned.fileId);
    w.markCopy('offsite', 'a.jpg', 'corrupt');
    const afterVerify = new Rechecker(w.store, w.volumeId, plan.policy, w.nowNs, w.laptopId).recheck(planned.fileId);

    // expect
    expect(unchanged.allowed).toBe(true);
    expect(sameEvidenceVersions(planned.evidenceVersions, unchanged.versions)).toBe(true);
    expect(afterVerify.allowed).toBe(false);
    expect(afterVerify.refusals.map((r) => `${r.target}:${r.reason}`)).toEqual(['offsite:lost-at-destination']);
    expect(afterVerify.copies.find((c) => c.destination === 'offsite')?.state).toBe('corrupt');
  });

  test('a component written after the plan changes the versions; a row no longer present is never allowed; a vanished row is damage', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas');
    w.sync('offsite');
    const plan = planOffload(w.store, w.volumeConfig(), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId });
    const planned = plan.allowed.at(0);

    // act
    w.writeComponent('nas', { originRunId: 1, method: 'blake3-reverify', verifiedAtNs: w.nowNs + 1n });
    const reverified = new Rechecker(w.store, w.volumeId, plan.policy, w.nowNs, w.laptopId).recheck(planned.fileId);
    w.index({}, { missing: ['a.jpg'] });
    const gone = new Rechecker(w.store, w.volumeId, plan.policy, w.nowNs, w.laptopId).recheck(planned.fileId);
    const unknownRow = () => new Rechecker(w.store, w.volumeId, plan.policy, w.nowNs, w.laptopId).recheck(9999);

    // expect
    expect(reverified.allowed).toBe(true);
    expect(sameEvidenceVersions(planned.evidenceVersions, reverified.versions)).toBe(false);
    expect(reverified.versions.map((v) => [v.target, v.componentVersion])).toEqual([
      ['nas', 2],
      ['offsite', 1],
    ]);
    expect(gone).toMatchObject({ allowed: false, rowProblem: "its index row is now 'missing'" });
    expect(unknownRow).toThrow(expect.objectContaining({ code: 'SQLITE_CORRUPT', message: 'file row 9999 vanished, and file rows are never deleted' }));
  });
});

test('limits are described exactly in their largest whole unit', () => {
  expect([30n * DAY_NS, 36n * 3_600_000_000_000n, 90n * 60_000_000_000n, 45_000_000_000n].map(describeLimitNs)).toEqual(['30d', '36h', '90m', '45s']);
});

test('ContentIdSet answers membership from any order and repeats, for dense and for absurdly large ids', () => {
  // setup
  const dense = new ContentIdSet(Float64Array.from([9, 1, 8, 9, 64, 1]));
  const sparse = new ContentIdSet(Float64Array.from([2 ** 40, 3, 2 ** 40, 7]));
  const empty = new ContentIdSet(new Float64Array(0));

  // act
  const probe = (set: ContentIdSet) => [0, 1, 3, 7, 8, 9, 10, 63, 64, 65, 2 ** 40, 2 ** 40 + 1].filter((id) => set.has(id));

  // expect
  expect(probe(dense)).toEqual([1, 8, 9, 64]);
  expect(probe(sparse)).toEqual([3, 7, 2 ** 40]);
  expect(probe(empty)).toEqual([]);
});
