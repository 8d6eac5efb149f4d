// Topologies: the storage setups real users have, generated at random, with the real binary
// run over them step by step and the invariant checker (which counts physical copies by
// (st_dev, st_ino)) after every step. A world may reach its volume or a destination through a
// symlink or a bind mount (fine), have a case-folding exFAT destination and files whose names
// differ only in case, share its NAS with a second node (with a namespace of its own, or
// without one: then refused), lose history copies to a user cleaning up by hand, or have two
// of its places joined by a link or mount (then every command must refuse, and nothing may go).

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { hashBytes } from '../../src/hash.js';
import { tempDir } from '../helpers.js';
import { bindMount, exfatDrive, mountSupport, unmountAll } from '../mounts.js';
import { formatViolations } from './invariants.js';
import { crashSigns, Rng, RunResult, VOLUME, World } from './world.js';

export interface TopologyOptions {
  trials: number;
  seed: number;
  stepsPerTrial?: number;
  log?: (line: string) => void;
}

export interface TopologySummary {
  seed: number;
  trials: number;
  commands: number;
  /** Commands refused with exit 2 (a joined place, another node's namespace). */
  refusals: number;
  offloaded: number;
  features: Record<string, number>;
  violations: string[];
}

type Feature = 'volume-link' | 'volume-bind' | 'dest-link' | 'exfat' | 'twins' | 'second-node' | 'second-node-unprefixed' | 'peers' | 'history-cleanup' | 'join-later' | 'volume-in-dest';

interface Trial {
  rng: Rng;
  features: Set<Feature>;
  laptop: World;
  desktop: World | null;
  /** Two places were joined (a link or mount): from then on nothing may be offloaded. */
  joined: boolean;
}

export async function runTopologyTrials(o: TopologyOptions): Promise<TopologySummary> {
  const rng = new Rng(o.seed);
  const summary: TopologySummary = { seed: o.seed, trials: 0, commands: 0, refusals: 0, offloaded: 0, features: {}, violations: [] };
  for (let i = 0; i < o.trials && summary.violations.length < 20; i++) {
    const trialSeed = rng.int(2 ** 31);
    let trial: Trial | null = null;
    try {
      trial = buildTrial(trialSeed);
      for (const feature of trial.features) summary.features[feature] = (summary.features[feature] ?? 0) + 1;
      summary.trials++;
      await runTrial(trial, o.stepsPerTrial ?? 14, summary, (detail) => {
        summary.violations.push(`seed ${o.seed}, trial seed ${trialSeed} [${[...trial!.features].join(',')}]: ${detail}`);
        o.log?.(`VIOLATION trial ${trialSeed}: ${detail}`);
      });
      o.log?.(`${i + 1}/${o.trials} [${[...trial.features].join(',') || 'plain'}] commands=${summary.commands} refusals=${summary.refusals}`);
    } finally {
      unmountAll();
    }
  }
  return summary;
}

function buildTrial(seed: number): Trial {
  const rng = new Rng(seed);
  const mounts = mountSupport();
  const features = new Set<Feature>();
  const pick = (feature: Feature, chance: number, available = true) => {
    if (available && rng.chance(chance)) features.add(feature);
  };
  pick('volume-link', 0.25);
  pick('volume-bind', 0.15, mounts.bind === null && !features.has('volume-link'));
  pick('dest-link', 0.25);
  pick('exfat', 0.3, mounts.exfat === null);
  pick('twins', 0.5);
  pick('second-node', 0.35);
  if (features.has('second-node')) pick('second-node-unprefixed', 0.4);
  // The second node on the NAS vouches for the laptop's copies there (signed attestations).
  if (features.has('second-node') && !features.has('second-node-unprefixed')) pick('peers', 0.7);
  pick('history-cleanup', 0.4);
  pick('join-later', 0.2);
  pick('volume-in-dest', 0.08);

  const dir = tempDir('squirrel-topo-');
  const nasRoot = path.join(dir, 'nas');
  const usbRoot = features.has('exfat') ? path.join(exfatDrive(64, 'usb'), 'squirrel') : path.join(dir, 'usb');
  let nasConfigured = nasRoot;
  if (features.has('dest-link')) {
    fs.mkdirSync(nasRoot, { recursive: true });
    nasConfigured = path.join(dir, 'nas-link');
    fs.symlinkSync(nasRoot, nasConfigured);
  }
  const laptop = new World({ seed: rng.int(2 ** 31), dir: path.join(dir, 'laptop'), node: 'laptop', destinations: { nas: nasConfigured, usb: usbRoot }, files: 10 });
  if (features.has('twins')) addTwins(laptop, rng);
  if (features.has('volume-link') || features.has('volume-bind')) {
    const alias = path.join(dir, 'laptop', 'alias');
    if (features.has('volume-link')) fs.symlinkSync(laptop.root, alias);
    else bindMount(laptop.root, alias);
    laptop.configuredRoot = alias;
    laptop.writeConfig();
  }
  if (features.has('volume-in-dest')) {
    // The volume is reached through a link into its own namespace at the NAS.
    const namespace = path.join(nasRoot, VOLUME);
    fs.mkdirSync(namespace, { recursive: true });
    for (const relative of fs.readdirSync(laptop.root)) fs.renameSync(path.join(laptop.root, relative), path.join(namespace, relative));
    fs.rmSync(laptop.root, { recursive: true });
    fs.symlinkSync(namespace, laptop.root);
    laptop.writeConfig();
  }
  let desktop: World | null = null;
  if (features.has('second-node')) {
    desktop = new World({
      seed: rng.int(2 ** 31),
      dir: path.join(dir, 'desktop'),
      node: 'desktop',
      destinations: { nas: nasConfigured, usb: path.join(dir, 'desktop-usb') },
      files: 6,
      extraConfig: features.has('second-node-unprefixed') ? {} : { namespace_prefix: 'desktop-' },
    });
  }
  return { rng, features, laptop, desktop, joined: features.has('volume-in-dest') };
}

/** Files whose names differ only in case (and one NFC/NFD pair): one name on a folding drive. */
function addTwins(world: World, rng: Rng): void {
  world.write('2019/IMG_0001.JPG', world.randomBytes());
  world.write('2019/img_0001.jpg', world.randomBytes());
  if (rng.chance(0.5)) {
    world.write('docs/Caf\u00e9.txt'.normalize('NFC'), world.randomBytes());
    world.write('docs/Caf\u00e9.txt'.normalize('NFD'), world.randomBytes());
  }
}

async function runTrial(trial: Trial, steps: number, summary: TopologySummary, violation: (detail: string) => void): Promise<void> {
  const { rng } = trial;
  const worlds = [trial.laptop, ...(trial.desktop ? [trial.desktop] : [])];
  const run = async (world: World, args: string[]): Promise<RunResult> => {
    const result = await world.run(args);
    summary.commands++;
    if (result.code === 2) summary.refusals++;
    const signs = crashSigns(result);
    if (signs) violation(`${world.node}: squirrel ${args.join(' ')}: ${signs}\n${result.stderr.slice(0, 1500)}`);
    else if (result.code === null || ![0, 1, 2, 3].includes(result.code)) violation(`${world.node}: squirrel ${args.join(' ')}: exit ${result.code}\n${result.stderr.slice(0, 1500)}`);
    // Only the laptop's places are joined; the desktop's (its own USB, a prefixed namespace) are not.
    if (args[0] === 'offload' && trial.joined && world === trial.laptop && /^offloaded=[1-9]/m.test(result.stdout)) {
      violation(`${world.node}: offload went ahead although two places are joined:\n${result.stdout.slice(0, 1500)}`);
    }
    const m = /^offloaded=(\d+)/m.exec(result.stdout);
    if (m) summary.offloaded += Number(m[1]);
    for (const w of worlds) {
      const found = w.check({ settled: true });
      if (found.length > 0) violation(`after ${w === world ? '' : `${world.node}'s `}squirrel ${args.join(' ')} (${w.node}):\n${formatViolations(found)}`);
    }
    return result;
  };

  for (const world of worlds) {
    await run(world, ['index', VOLUME]);
    await run(world, ['sync', VOLUME, '--init']);
  }
  if (trial.desktop && trial.features.has('peers')) {
    const keyOf = async (w: World) => (JSON.parse((await w.run(['--json', 'node', 'show'])).stdout) as { public_key: string }).public_key;
    trial.laptop.setConfig('peers', { desktop: { public_key: await keyOf(trial.desktop) } });
    trial.desktop.setConfig('peers', { laptop: { public_key: await keyOf(trial.laptop) } });
  }
  for (let step = 0; step < steps; step++) {
    const world = trial.desktop && rng.chance(0.3) ? trial.desktop : trial.laptop;
    const roll = rng.next();
    if (roll < 0.15) {
      for (let n = rng.int(3); n >= 0; n--) world.mutate();
      await run(world, ['index', VOLUME]);
    } else if (roll < 0.35) await run(world, ['sync', VOLUME, ...(rng.chance(0.3) ? ['--to', rng.pick(world.targets)] : [])]);
    else if (roll < 0.45) await run(world, ['verify', VOLUME, ...(rng.chance(0.4) ? ['--sample', '50'] : [])]);
    else if (roll < 0.7) await run(world, ['offload', VOLUME, rng.chance(0.7) ? '.' : rng.pick(['2019', 'docs', '2020'])]);
    else if (roll < 0.8) await run(world, ['restore', VOLUME, '.']);
    else if (roll < 0.85) await run(world, ['status', VOLUME]);
    else if (roll < 0.9 && trial.desktop && trial.features.has('peers')) {
      await run(trial.desktop, ['verify', '--to', 'nas', '--peer', 'laptop']);
      await run(trial.laptop, ['peers', 'pull']);
    }
    else if (roll < 0.95 && trial.features.has('history-cleanup')) cleanHistory(world, rng);
    else if (trial.features.has('join-later') && !trial.joined && offloadedCount(trial.laptop) === 0) {
      joinNamespaces(trial);
      trial.joined = true;
    }
  }
}

/** A user deleting squirrel's history copies by hand (never the only copy of an offloaded file's bytes). */
function cleanHistory(world: World, rng: Rng): void {
  const needed = offloadedHashes(world);
  for (const target of world.targets) {
    const history = path.join(world.destinations[target], world.namespace(target), '.squirrel-history');
    let files: string[];
    try {
      files = fs.readdirSync(history, { recursive: true, encoding: 'utf8' }).map((f) => path.join(history, f));
    } catch {
      continue;
    }
    for (const file of files) {
      try {
        if (!fs.lstatSync(file).isFile() || !rng.chance(0.5)) continue;
        if (needed.has(hashOf(file))) continue;
        fs.rmSync(file);
      } catch {
        // gone already
      }
    }
  }
}

/** The USB namespace becomes a link to the NAS one (nothing offloaded relies on the USB copies now). */
function joinNamespaces(trial: Trial): void {
  const w = trial.laptop;
  const usbNamespace = path.join(w.destinations.usb, w.namespace('usb'));
  const nasNamespace = path.join(fs.realpathSync(w.destinations.nas), w.namespace('nas'));
  fs.rmSync(usbNamespace, { recursive: true, force: true });
  try {
    fs.symlinkSync(nasNamespace, usbNamespace);
  } catch {
    // a drive without symlinks (exFAT): a bind mount joins them just the same
    bindMount(nasNamespace, usbNamespace);
  }
}

function offloadedRows(world: World): { blake3: string }[] {
  if (!fs.existsSync(world.dbPath)) return [];
  const db = new Database(world.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(`SELECT lower(hex(c.blake3)) AS blake3 FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.status = 'offloaded' OR f.id IN (SELECT file_id FROM offload_intents WHERE state = 'open')`)
      .all() as { blake3: string }[];
  } finally {
    db.close();
  }
}

function offloadedCount(world: World): number {
  return offloadedRows(world).length;
}

function offloadedHashes(world: World): Set<string> {
  return new Set(offloadedRows(world).map((r) => r.blake3));
}

function hashOf(file: string): string {
  return hashBytes(fs.readFileSync(file)).toString('hex');
}
