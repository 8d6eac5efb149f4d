// Crash injection: run index, sync, verify, offload and restore as real subprocesses and
// SIGKILL them at every named step boundary (through the test-only pause hook), shortly
// after one (a random moment inside the work), or at a random moment after start. Then the
// next command runs to the end, and the invariants must hold with nothing left `running`.

import Database from 'better-sqlite3';
import { DbSnapshot, formatViolations } from './invariants.js';
import { Rng, RunResult, runProblem, sleep, TARGETS, VOLUME, World } from './world.js';

export type Step = 'index' | 'sync' | 'verify' | 'offload' | 'restore';

/**
 * Every pause point in the code, by the command that passes it; but index.after-batch, reached
 * only past 8192 files, has a test of its own in test/cli/index.test.ts.
 */
export const PAUSE_POINTS: Record<Step, string[]> = {
  index: ['index.after-begin', 'index.before-missing'],
  sync: ['sync.after-begin', 'sync.before-record', 'sync.after-record'],
  verify: ['verify.before-read', 'verify.before-restamp'],
  offload: ['offload.after-disk-check', 'offload.after-intent', 'offload.after-unlink'],
  restore: ['restore.before-place'],
};

const BOUNDARIES: { step: Step; point: string }[] = Object.entries(PAUSE_POINTS).flatMap(([step, points]) => points.map((point) => ({ step: step as Step, point })));
const STEPS = Object.keys(PAUSE_POINTS) as Step[];
/** Commands run to the end after a kill: each opens the database, reaps and reconciles. */
const NEXT_COMMANDS: string[][] = [['index', VOLUME], ['sync', VOLUME], ['verify', VOLUME], ['status', VOLUME], ['offload', VOLUME, '.', '--dry-run']];

export interface CrashOptions {
  /** Stop after this many processes were killed while alive. */
  kills: number;
  seed: number;
  /** A fresh world after this many kills. */
  killsPerWorld?: number;
  filesPerWorld?: number;
  log?: (line: string) => void;
}

export interface CrashSummary {
  seed: number;
  kills: number;
  boundaryKills: Record<string, number>;
  jitterKills: number;
  randomKills: number;
  commands: number;
  worlds: number;
  violations: string[];
}

type KillMode = { kind: 'boundary'; point: string } | { kind: 'jitter' } | { kind: 'random' };

export async function runCrashTrials(o: CrashOptions): Promise<CrashSummary> {
  const rng = new Rng(o.seed);
  const summary: CrashSummary = { seed: o.seed, kills: 0, boundaryKills: {}, jitterKills: 0, randomKills: 0, commands: 0, worlds: 0, violations: [] };
  const durationsMs = new Map<Step, number>(STEPS.map((s) => [s, 400]));
  let world: World | null = null;
  let killsInWorld = 0;
  let boundaryCursor = 0;
  let boundaryMisses = 0;
  let attempt = 0;
  // The kill waiting for its "next command"; the first command run after a kill is that one.
  let pending: { context: string; before: DbSnapshot | undefined } | null = null;

  const violation = (context: string, detail: string) => {
    summary.violations.push(`seed ${o.seed}, attempt ${attempt}, ${context}: ${detail}`);
    o.log?.(`VIOLATION ${context}: ${detail}`);
  };
  const runToEnd: RunToEnd = async (w, args, context) => {
    const started = performance.now();
    const result = await w.run(args);
    summary.commands++;
    const step = args[0] as Step;
    if (durationsMs.has(step)) durationsMs.set(step, (durationsMs.get(step)! + (performance.now() - started)) / 2);
    const problem = runProblem(result);
    if (problem) violation(context, problem);
    if (pending) {
      const violations = w.check({ settled: true, before: pending.before });
      if (violations.length > 0) violation(`after ${pending.context} and then ${args.join(' ')}`, formatViolations(violations));
      pending = null;
    }
    return result;
  };

  while (summary.kills < o.kills && summary.violations.length < 20) {
    attempt++;
    if (!world || killsInWorld >= (o.killsPerWorld ?? 25)) {
      if (world && pending) await runToEnd(world, rng.pick(NEXT_COMMANDS), 'next command');
      world = new World({ seed: rng.int(2 ** 31), files: o.filesPerWorld ?? 14 });
      summary.worlds++;
      killsInWorld = 0;
      await runToEnd(world, ['index', VOLUME], 'setup');
      await runToEnd(world, ['sync', VOLUME, '--init'], 'setup');
    }

    let mode: KillMode;
    let step: Step;
    if (attempt % 2 === 1) {
      const boundary = BOUNDARIES[boundaryCursor % BOUNDARIES.length];
      step = boundary.step;
      mode = { kind: 'boundary', point: boundary.point };
    } else {
      step = rng.pick(STEPS);
      mode = rng.chance(0.6) ? { kind: 'jitter' } : { kind: 'random' };
    }

    await prepare(world, step, rng, runToEnd);
    if (pending) await runToEnd(world, rng.pick(NEXT_COMMANDS), 'next command');
    const before = world.snapshot();
    const args = argsFor(step, rng);
    const context = `${args.join(' ')} killed ${mode.kind === 'boundary' ? `at ${mode.point}` : mode.kind}`;
    const killed = await killDuring(world, args, mode, rng, durationsMs.get(step)!, (result) => {
      summary.commands++;
      const problem = runProblem(result);
      if (problem) violation(`${context} (it finished first)`, problem);
    });
    if (killed) {
      summary.kills++;
      killsInWorld++;
      pending = { context, before };
      if (mode.kind === 'boundary') summary.boundaryKills[mode.point] = (summary.boundaryKills[mode.point] ?? 0) + 1;
      else if (mode.kind === 'jitter') summary.jitterKills++;
      else summary.randomKills++;
    }
    if (mode.kind === 'boundary') {
      // A point not reached (nothing to do there this time) is tried again, a few times.
      if (killed || ++boundaryMisses >= 5) {
        boundaryCursor++;
        boundaryMisses = 0;
      }
    }
    o.log?.(`${summary.kills}/${o.kills} ${context}${killed ? '' : ' (exited before the kill)'}`);
  }
  if (world && pending) await runToEnd(world, rng.pick(NEXT_COMMANDS), 'next command');
  return summary;
}

type RunToEnd = (w: World, args: string[], context: string) => Promise<RunResult>;

function argsFor(step: Step, rng: Rng): string[] {
  switch (step) {
    case 'index':
      return ['index', VOLUME];
    case 'sync':
      return ['sync', VOLUME, ...(rng.chance(0.25) ? ['--to', rng.pick(TARGETS)] : [])];
    case 'verify':
      return ['verify', VOLUME, ...(rng.chance(0.25) ? ['--sample', String(20 + rng.int(60))] : [])];
    case 'offload':
      return ['offload', VOLUME, rng.chance(0.75) ? '.' : rng.pick(['2019', 'docs', '2020'])];
    case 'restore':
      return ['restore', VOLUME, rng.chance(0.75) ? '.' : rng.pick(['2019', 'docs', '2020'])];
  }
}

/** Bring the world to a state where the step has work to do, so its pause points are reached. */
async function prepare(world: World, step: Step, rng: Rng, runToEnd: RunToEnd): Promise<void> {
  const context = `preparing ${step}`;
  if (step === 'index' || rng.chance(0.25)) {
    for (let i = rng.int(3); i >= 0; i--) world.mutate();
    if (step !== 'index') await runToEnd(world, ['index', VOLUME], context);
  }
  if (rng.chance(0.08)) {
    // Bit rot at a destination, caught by a whole verify before anything else runs. Only
    // copies of bytes no offloaded file needs: rot under an offloaded file is real data loss
    // that no tool could prevent, and would only hide squirrel's own mistakes.
    if (world.rotCopy(new Set(offloadedRows(world).map((r) => r.blake3)))) await runToEnd(world, ['verify', VOLUME], `${context}: verify after bit rot`);
  }
  if (step === 'offload') {
    if (presentFiles(world) === 0) {
      await runToEnd(world, ['restore', VOLUME, '.'], context);
    }
    await runToEnd(world, ['sync', VOLUME], context);
  }
  if (step === 'restore') {
    // Missing files alone may have no copy anywhere (deleted before a sync landed): restore
    // would have nothing to place and never reach its pause point.
    if (offloadedRows(world).length === 0) {
      await runToEnd(world, ['sync', VOLUME], context);
      await runToEnd(world, ['offload', VOLUME, '.'], context);
    }
    // The user made a new, different file where an offloaded one was: restore must move it aside.
    const offloaded = offloadedRows(world).filter((r) => !world.written.has(r.path) || world.written.get(r.path)!.toString('hex') === r.blake3);
    if (offloaded.length > 0 && rng.chance(0.4)) world.write(rng.pick(offloaded).path, world.randomBytes());
  }
}

/** Offloaded rows (and rows under an open intent): path and BLAKE3 hex. */
function offloadedRows(world: World): { path: string; blake3: string }[] {
  const db = new Database(world.dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(`SELECT f.path, hex(c.blake3) AS blake3 FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.status = 'offloaded' OR f.id IN (SELECT file_id FROM offload_intents WHERE state = 'open')`)
      .all() as { path: string; blake3: string }[];
    return rows.map((r) => ({ path: r.path, blake3: r.blake3.toLowerCase() }));
  } finally {
    db.close();
  }
}

/** Start the command and kill it as the mode says; false when it ended on its own first. */
async function killDuring(world: World, args: string[], mode: KillMode, rng: Rng, typicalMs: number, onFinished: (r: RunResult) => void): Promise<boolean> {
  const step = args[0] as Step;
  const pauseAt = mode.kind === 'boundary' ? [mode.point] : mode.kind === 'jitter' ? [PAUSE_POINTS[step][0]] : undefined;
  const running = world.start(args, { pauseAt });
  if (mode.kind === 'random') {
    await Promise.race([sleep(rng.int(Math.max(50, Math.round(typicalMs * 1.2)))), running.done]);
  } else {
    const point = await running.paused();
    if (point !== null && mode.kind === 'jitter') {
      running.resume();
      await Promise.race([sleep(rng.int(60)), running.done]);
    }
  }
  const killed = await running.kill();
  if (!killed) onFinished(await running.done);
  return killed;
}

function presentFiles(world: World): number {
  const db = new Database(world.dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM files WHERE status = 'present'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}
