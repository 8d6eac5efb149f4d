// Concurrency: several real processes at once on one volume and its destinations (index,
// sync, verify in a loop, offload --dry-run, offload, restore) for a bounded time. No run may
// crash (no SQLITE_BUSY), every "busy" refusal must name a real blocking run, every vector
// write a process reports must be in the history (no lost update), and the invariants hold,
// also when processes are SIGKILLed at random in the middle of it all.
// The gate race: a verify that records a corrupt copy between an offload's plan and its
// unlink must stop that unlink, wherever in that window it lands.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { formatViolations } from './invariants.js';
import { Rng, RunResult, runProblem, sleep, TARGETS, VOLUME, World } from './world.js';

export interface ConcurrencyOptions {
  rounds: number;
  /** How long the processes of one round keep starting new commands. */
  roundMs: number;
  seed: number;
  /** SIGKILL a random running process about this often (0 or absent: never). */
  killEveryMs?: number;
  log?: (line: string) => void;
}

export interface ConcurrencySummary {
  seed: number;
  rounds: number;
  commands: number;
  kills: number;
  busyRefusals: number;
  vectorWrites: number;
  violations: string[];
}

interface BusyClaim {
  runId: number;
  kind: string;
  pid: number;
  context: string;
}

interface VectorClaim {
  destination: string;
  runId: number;
  version: number;
  outcome: string;
}

/** The busy refusal as RunStore.begin words it; the blocking run must be named. */
const BUSY = /volume '[^']+' is busy: (index|sync|offload|restore) run (\d+) \(pid (\d+) on [^)]+\)/;

const WORKERS: { name: string; args: (rng: Rng) => string[]; mutate?: boolean }[] = [
  { name: 'index', args: () => ['index', VOLUME, '--json'], mutate: true },
  { name: 'sync', args: (rng) => ['sync', VOLUME, '--json', ...(rng.chance(0.3) ? ['--to', rng.pick(TARGETS)] : [])] },
  { name: 'verify', args: (rng) => ['verify', VOLUME, '--json', ...(rng.chance(0.3) ? ['--sample', String(10 + rng.int(80))] : []), ...(rng.chance(0.3) ? ['--to', rng.pick(TARGETS)] : [])] },
  // A second verify: two re-stamps of one vector racing each other.
  { name: 'verify-2', args: (rng) => ['verify', VOLUME, '--json', ...(rng.chance(0.5) ? ['--to', rng.pick(TARGETS)] : [])] },
  { name: 'dry-run', args: () => ['offload', VOLUME, '.', '--dry-run', '--json'] },
  { name: 'offload', args: (rng) => ['offload', VOLUME, rng.chance(0.7) ? '.' : rng.pick(['2019', 'docs', '2020']), '--json'] },
  { name: 'restore', args: (rng) => ['restore', VOLUME, rng.chance(0.7) ? '.' : rng.pick(['2019', 'docs']), '--json'] },
];

export async function runConcurrencyRounds(o: ConcurrencyOptions): Promise<ConcurrencySummary> {
  const rng = new Rng(o.seed);
  const summary: ConcurrencySummary = { seed: o.seed, rounds: 0, commands: 0, kills: 0, busyRefusals: 0, vectorWrites: 0, violations: [] };
  for (let round = 1; round <= o.rounds && summary.violations.length < 20; round++) {
    const violation = (detail: string) => {
      summary.violations.push(`seed ${o.seed}, round ${round}: ${detail}`);
      o.log?.(`VIOLATION round ${round}: ${detail}`);
    };
    const world = new World({ seed: rng.int(2 ** 31), files: 20 });
    for (const args of [['index', VOLUME], ['sync', VOLUME, '--init']]) {
      const result = await world.cli(args);
      if (result.code !== 0) violation(`setup: ${args.join(' ')}: exit ${result.code} ${result.stderr}`);
    }
    const busy: BusyClaim[] = [];
    const vector: VectorClaim[] = [];
    const deadline = performance.now() + o.roundMs;
    const worker = async (spec: (typeof WORKERS)[number], workerRng: Rng) => {
      await sleep(workerRng.int(200));
      while (performance.now() < deadline) {
        // New files only: an edit racing an unlink is the user's race, not squirrel's.
        if (spec.mutate && workerRng.chance(0.5)) world.addFile();
        const result = await world.run(spec.args(workerRng));
        summary.commands++;
        const problem = runProblem(result);
        if (problem) violation(problem);
        collectClaims(result, busy, vector, violation);
        await sleep(workerRng.int(40));
      }
    };
    // Chaos: now and then one of the running processes is SIGKILLed mid-work.
    const chaos = async (chaosRng: Rng) => {
      while (o.killEveryMs && performance.now() < deadline) {
        await sleep(o.killEveryMs / 2 + chaosRng.int(o.killEveryMs));
        const victims = [...world.running].filter((r) => r.alive);
        if (victims.length > 0 && (await chaosRng.pick(victims).kill())) summary.kills++;
      }
    };
    await Promise.all([...WORKERS.map((spec) => worker(spec, new Rng(rng.int(2 ** 31)))), chaos(new Rng(rng.int(2 ** 31)))]);

    // The next command settles whatever is left, then everything must hold.
    const settle = await world.run(['status', VOLUME]);
    const problem = runProblem(settle);
    if (problem) violation(problem);
    checkClaims(world, busy, vector, violation);
    const violations = world.check({ settled: true });
    if (violations.length > 0) violation(formatViolations(violations));
    summary.busyRefusals += busy.length;
    summary.vectorWrites += vector.length;
    summary.rounds++;
    o.log?.(`round ${round}: ${summary.commands} commands and ${summary.kills} kills so far, ${busy.length} busy refusals, ${vector.length} vector writes`);
  }
  return summary;
}

function collectClaims(result: RunResult, busy: BusyClaim[], vector: VectorClaim[], violation: (detail: string) => void): void {
  const output = `${result.stdout}\n${result.stderr}`;
  const context = `squirrel ${result.args.join(' ')}`;
  if (/is busy/.test(output)) {
    const found = [...output.matchAll(new RegExp(BUSY.source, 'g'))];
    if (found.length === 0) violation(`${context}: a busy refusal that does not name the blocking run: ${output.slice(0, 500)}`);
    for (const m of found) busy.push({ kind: m[1], runId: Number(m[2]), pid: Number(m[3]), context });
  }
  if (!['sync', 'verify'].includes(result.args[0]) || result.code === null) return;
  let parsed: { results?: { destination: string; runId: number | null; vector: { outcome: string; version: number | null }[] }[] };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    violation(`${context}: --json output is not one JSON document: ${result.stdout.slice(0, 300)}`);
    return;
  }
  for (const r of parsed.results ?? []) {
    for (const v of r.vector ?? []) {
      if (!['created', 'advanced', 'reverified'].includes(v.outcome)) continue;
      if (r.runId === null || v.version === null) {
        violation(`${context}: reports a vector write '${v.outcome}' without a run or version`);
        continue;
      }
      vector.push({ destination: r.destination, runId: r.runId, version: v.version, outcome: v.outcome });
    }
  }
}

/** Every refusal named a run that exists, of that kind and pid; every reported write is in the history. */
function checkClaims(world: World, busy: BusyClaim[], vector: VectorClaim[], violation: (detail: string) => void): void {
  const db = new Database(world.dbPath, { readonly: true, fileMustExist: true });
  try {
    const run = db.prepare('SELECT kind, pid FROM runs WHERE id = ?');
    for (const claim of busy) {
      const row = run.get(claim.runId) as { kind: string; pid: number } | undefined;
      if (!row || row.kind !== claim.kind || row.pid !== claim.pid) {
        violation(`${claim.context}: refused as busy naming ${claim.kind} run ${claim.runId} (pid ${claim.pid}), but the database has ${row ? `${row.kind} pid ${row.pid}` : 'no such run'}`);
      }
    }
    const history = db.prepare('SELECT count(*) AS n FROM destination_run_ids_history WHERE destination = ? AND version = ? AND run_id = ?');
    for (const claim of vector) {
      const { n } = history.get(claim.destination, claim.version, claim.runId) as { n: number };
      if (n !== 1) violation(`lost vector update: run ${claim.runId} reported '${claim.outcome}' of ${claim.destination} to version ${claim.version}, but the history has no such write`);
    }
  } finally {
    db.close();
  }
}

export interface GateRaceOptions {
  trials: number;
  seed: number;
  log?: (line: string) => void;
}

export interface GateRaceSummary {
  seed: number;
  races: number;
  /** Races that paused the offload at each point. */
  byPoint: Record<string, number>;
  violations: string[];
}

/** Where the offload waits while verify records the bad copy: after its plan, before its unlink. */
export const GATE_RACE_POINTS = ['offload.after-disk-check', 'offload.after-intent'];

/**
 * One race per trial: an offload is paused between its plan and its first unlink, a copy of
 * one of its files goes bad at a required destination, and a verify records it. The offload
 * resumes and must not delete that file.
 */
export async function runGateRaces(o: GateRaceOptions): Promise<GateRaceSummary> {
  const rng = new Rng(o.seed);
  const summary: GateRaceSummary = { seed: o.seed, races: 0, byPoint: {}, violations: [] };
  for (let trial = 1; trial <= o.trials && summary.violations.length < 20; trial++) {
    const violation = (detail: string) => {
      summary.violations.push(`seed ${o.seed}, race ${trial}: ${detail}`);
      o.log?.(`VIOLATION race ${trial}: ${detail}`);
    };
    const world = new World({ seed: rng.int(2 ** 31), files: 0 });
    // Distinct, non-empty contents, so each file has exactly one copy per destination.
    const paths = Array.from({ length: 3 + rng.int(4) }, (_, i) => `${rng.pick(['', '2019/', 'docs/'])}r${i}.bin`);
    for (const p of paths) world.write(p, Buffer.concat([Buffer.from(`${p}:${trial}:`), world.rng.bytes(1 + rng.int(4096))]));
    for (const args of [['index', VOLUME], ['sync', VOLUME, '--init']]) {
      const result = await world.cli(args);
      if (result.code !== 0) violation(`setup: ${args.join(' ')}: exit ${result.code} ${result.stderr}`);
    }
    const inOrder = [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    // The first file is decided while the offload waits; a later one after it resumes.
    const point = GATE_RACE_POINTS[trial % GATE_RACE_POINTS.length];
    const victim = rng.chance(0.7) ? inOrder[0] : rng.pick(inOrder);
    const target = rng.pick(TARGETS);
    const damage = rng.pick(['flip', 'truncate', 'delete'] as const);

    const offload = world.start(['offload', VOLUME, '.', '--json'], { pauseAt: [point] });
    if ((await offload.paused()) === null) {
      violation(`the offload never reached ${point}: ${(await offload.done).stderr.slice(0, 500)}`);
      continue;
    }
    damageCopy(path.join(world.destinations[target], VOLUME, victim), damage);
    const verify = await world.run(['verify', VOLUME, '--to', target, '--json']);
    if (verify.code !== 1 || !verify.stdout.includes(victim)) violation(`verify did not report the ${damage}d copy of ${victim}: exit ${verify.code} ${verify.stdout.slice(0, 500)}`);
    offload.resume();
    const finished = await offload.done;
    const problem = runProblem(finished);
    if (problem) violation(problem);
    summary.races++;
    summary.byPoint[point] = (summary.byPoint[point] ?? 0) + 1;

    if (!fs.existsSync(path.join(world.root, victim))) {
      violation(`offload paused at ${point} deleted ${victim} after a verify had recorded its copy at '${target}' as ${damage === 'delete' ? 'missing' : 'corrupt'}`);
    }
    // Nothing was killed, so nothing is left to settle: the invariants hold right away.
    const violations = world.check({ settled: true });
    if (violations.length > 0) violation(formatViolations(violations));
    o.log?.(`race ${trial}: ${victim} damaged (${damage}) at ${target} while the offload waited at ${point}`);
  }
  return summary;
}

function damageCopy(file: string, damage: 'flip' | 'truncate' | 'delete'): void {
  if (damage === 'delete') {
    fs.rmSync(file);
    return;
  }
  const bytes = fs.readFileSync(file);
  if (damage === 'truncate') {
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    return;
  }
  bytes[bytes.length - 1] ^= 0xff;
  fs.writeFileSync(file, bytes);
}
