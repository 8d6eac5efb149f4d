// npm run test:soak -- --trials N [--seed S] [--jobs J] [--only crash,races,concurrency,configs,selectors,names,topology] [--no-build]
//
// The long version of test/reliability, outside vitest: the same generators with N trials.
// N SIGKILLs of real squirrel processes (crash injection, J worlds at once), N/20 gate races,
// N/100 concurrency rounds of ten seconds, 2N broken configs, N hostile selectors, N/100
// worlds of awkward file names and N/10 generated storage topologies (links, bind mounts,
// exFAT, two nodes on one NAS), every step checked by the invariant checker. Prints a summary
// of kills, races, inputs tried and violations, and exits 1 on any violation. A seed replays a
// run (the default is a fresh one, printed); the TypeScript sources load through a small
// transpile-on-import hook, so the generators are exactly the ones the quick suites run.

import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import { createRequire, register } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PHASES = ['crash', 'races', 'concurrency', 'configs', 'selectors', 'names', 'topology'];

function parseArgs(argv) {
  const options = { trials: 1000, seed: randomInt(1, 2 ** 31), jobs: 2, only: PHASES, build: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) usage(`${flag} needs a value`);
      return next;
    };
    if (flag === '--trials') options.trials = positive(flag, value());
    else if (flag === '--seed') options.seed = positive(flag, value());
    else if (flag === '--jobs') options.jobs = positive(flag, value());
    else if (flag === '--only') {
      options.only = value().split(',');
      for (const phase of options.only) if (!PHASES.includes(phase)) usage(`--only: unknown phase '${phase}' (phases: ${PHASES.join(', ')})`);
    } else if (flag === '--no-build') options.build = false;
    else if (flag === '--help' || flag === '-h') usage(null);
    else usage(`unknown argument '${flag}'`);
  }
  return options;
}

function positive(flag, text) {
  if (!/^\d+$/.test(text) || Number(text) < 1) usage(`${flag} needs a positive whole number, got '${text}'`);
  return Number(text);
}

function usage(problem) {
  const text = 'usage: npm run test:soak -- --trials N [--seed S] [--jobs J] [--only ' + PHASES.join(',') + '] [--no-build]';
  if (problem) {
    console.error(`soak: ${problem}\n${text}`);
    process.exit(2);
  }
  console.log(text);
  process.exit(0);
}

/** Load .ts sources on import: `./x.js` resolves to `./x.ts` when only that exists, transpiled by TypeScript. */
function registerTypeScript() {
  const typescript = pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
  const hooks = `
    import fs from 'node:fs';
    import { fileURLToPath } from 'node:url';
    import ts from '${typescript}';
    export async function resolve(specifier, context, next) {
      if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
        const asTs = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
        if (!fs.existsSync(fileURLToPath(new URL(specifier, context.parentURL))) && fs.existsSync(fileURLToPath(asTs))) {
          return { url: asTs.href, format: 'module', shortCircuit: true };
        }
      }
      return next(specifier, context);
    }
    export async function load(url, context, next) {
      if (!url.endsWith('.ts')) return next(url, context);
      const file = fileURLToPath(url);
      const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true },
      });
      return { format: 'module', source: outputText, shortCircuit: true };
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url);
}

function build() {
  // The subprocesses run bin/squirrel, which loads dist/: it must be this tree's code.
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (!fs.existsSync(path.join(root, 'dist/cli/main.js'))) {
    console.error(`soak: the build produced no dist/:\n${tsc.stdout}${tsc.stderr}`);
    process.exit(1);
  }
  if (tsc.status !== 0) console.error(`soak: warning: the build reported type errors (dist/ was still written):\n${tsc.stdout.slice(0, 2000)}`);
  const bundle = spawnSync(process.execPath, [path.join(root, 'scripts/bundle.mjs')], { cwd: root, encoding: 'utf8' });
  if (bundle.status !== 0) {
    console.error(`soak: bundling the CLI failed:\n${bundle.stdout}${bundle.stderr}`);
    process.exit(1);
  }
}

const options = parseArgs(process.argv.slice(2));
if (options.build) build();
registerTypeScript();

const reliability = (name) => import(pathToFileURL(path.join(root, 'test/reliability', name)).href);
const { runCrashTrials } = await reliability('crash.ts');
const { runConcurrencyRounds, runGateRaces } = await reliability('concurrency.ts');
const { runConfigMutations, runNameWorld, runSelectorFuzz } = await reliability('hostile.ts');
const { runTopologyTrials } = await reliability('topology.ts');
const { cleanupTempDirs, cli } = await import(pathToFileURL(path.join(root, 'test/helpers.ts')).href);

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
const log = (line) => console.log(`[${elapsed()}] ${line}`);
const share = (divisor, minimum = 1) => Math.max(minimum, Math.ceil(options.trials / divisor));
const totals = { kills: 0, chaosKills: 0, boundaryKills: 0, jitterKills: 0, randomKills: 0, commands: 0, races: 0, rounds: 0, busy: 0, vectorWrites: 0, configs: 0, selectors: 0, names: 0, topologies: 0, topologyRefusals: 0, topologyOffloaded: 0 };
const violations = [];
const record = (phase, found) => {
  for (const v of found) {
    violations.push(`[${phase}] ${v}`);
    log(`VIOLATION [${phase}] ${v}`);
  }
};

log(`soak: trials=${options.trials} seed=${options.seed} jobs=${options.jobs} phases=${options.only.join(',')}`);
try {
  if (options.only.includes('crash')) {
    // J lanes, each its own worlds, together N kills.
    const lanes = Array.from({ length: options.jobs }, (_, lane) => Math.floor(options.trials / options.jobs) + (lane < options.trials % options.jobs ? 1 : 0)).filter((n) => n > 0);
    const results = await Promise.all(
      lanes.map((kills, lane) =>
        runCrashTrials({ kills, seed: options.seed + lane, log: (line) => (/VIOLATION|^\d*0\/\d+ /.test(line) ? log(`crash lane ${lane}: ${line}`) : undefined) }),
      ),
    );
    for (const r of results) {
      totals.kills += r.kills;
      totals.boundaryKills += Object.values(r.boundaryKills).reduce((a, b) => a + b, 0);
      totals.jitterKills += r.jitterKills;
      totals.randomKills += r.randomKills;
      totals.commands += r.commands;
      record('crash', r.violations);
    }
    log(`crash: ${totals.kills} kills (${totals.boundaryKills} at step boundaries, ${totals.jitterKills} just after one, ${totals.randomKills} at random), ${totals.commands} commands`);
    cleanupTempDirs();
  }
  if (options.only.includes('races')) {
    const r = await runGateRaces({ trials: share(20, 2), seed: options.seed });
    totals.races = r.races;
    record('races', r.violations);
    log(`gate races: ${r.races} (${Object.entries(r.byPoint).map(([p, n]) => `${n} at ${p}`).join(', ')})`);
    cleanupTempDirs();
  }
  if (options.only.includes('concurrency')) {
    const r = await runConcurrencyRounds({ rounds: share(100), roundMs: 10_000, seed: options.seed, killEveryMs: 1_000, log: (line) => log(`concurrency ${line}`) });
    totals.rounds = r.rounds;
    totals.chaosKills = r.kills;
    totals.busy = r.busyRefusals;
    totals.vectorWrites = r.vectorWrites;
    totals.commands += r.commands;
    record('concurrency', r.violations);
    cleanupTempDirs();
  }
  if (options.only.includes('configs')) {
    const r = await runConfigMutations({ seed: options.seed, count: options.trials * 2, cli });
    totals.configs = r.inputs;
    record('configs', r.violations);
    log(`broken configs: ${r.inputs}`);
    cleanupTempDirs();
  }
  if (options.only.includes('selectors')) {
    const r = await runSelectorFuzz({ seed: options.seed, count: options.trials });
    totals.selectors = r.inputs;
    record('selectors', r.violations);
    log(`hostile selectors: ${r.inputs}`);
    cleanupTempDirs();
  }
  if (options.only.includes('names')) {
    for (let i = 0; i < share(100); i++) {
      const r = await runNameWorld(options.seed + i);
      totals.names += r.inputs;
      record('names', r.violations);
    }
    log(`awkward names and trees: ${totals.names} inputs`);
    cleanupTempDirs();
  }
  if (options.only.includes('topology')) {
    const r = await runTopologyTrials({ trials: share(10), seed: options.seed, log: (line) => (/VIOLATION|^\d*0\/\d+ /.test(line) ? log(`topology ${line}`) : undefined) });
    totals.topologies = r.trials;
    totals.topologyRefusals = r.refusals;
    totals.topologyOffloaded = r.offloaded;
    totals.commands += r.commands;
    record('topology', r.violations);
    log(`topologies: ${r.trials} worlds (${Object.entries(r.features).map(([f, n]) => `${f}=${n}`).join(' ')}), ${r.commands} commands, ${r.refusals} refused with exit 2, ${r.offloaded} files offloaded`);
    cleanupTempDirs();
  }
} finally {
  cleanupTempDirs();
}

const inputs = totals.configs + totals.selectors + totals.names;
console.log(
  `\nsoak summary: trials=${options.trials} seed=${options.seed} kills=${totals.kills + totals.chaosKills} (crash=${totals.kills} concurrency=${totals.chaosKills}) races=${totals.races} ` +
    `concurrency_rounds=${totals.rounds} busy_refusals=${totals.busy} vector_writes_checked=${totals.vectorWrites} ` +
    `inputs=${inputs} (configs=${totals.configs} selectors=${totals.selectors} names=${totals.names}) ` +
    `topologies=${totals.topologies} (refused=${totals.topologyRefusals} offloaded=${totals.topologyOffloaded}) ` +
    `commands=${totals.commands} violations=${violations.length} time=${elapsed()}`,
);
if (violations.length > 0) {
  console.log(`\nviolations (replay with --seed ${options.seed}):\n${violations.join('\n')}`);
  process.exit(1);
}
