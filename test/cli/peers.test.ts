// Several nodes, one destination (SPEC §9), through the real binary: two configs, two databases,
// two key pairs. A laptop's own evidence for the NAS ages past offload_max_evidence_age; a node
// on the NAS verifies the laptop's copies there (its signed catalog lists them) and attests it;
// the laptop pulls that and offloads. Untrusted, forged, replayed, foreign and future-dated
// attestations change nothing and say why; a peer's corrupt finding blocks the file until a sync
// re-sends it; two nodes publishing at once lose nothing. Nothing is lost (sha256 on disk).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, bin, cleanupTempDirs, CliResult, DAY_NS, json, tempDir, TEST_NOW_NS } from '../helpers.js';
import { lostFiles, sha256 } from '../physical.js';

afterEach(cleanupTempDirs);

interface TwoNodes {
  dir: string;
  nas: string;
  usb: string;
  volume: string;
  written: Record<string, string>;
  laptop: (nowNs: bigint, ...args: string[]) => CliResult;
  nasbox: (nowNs: bigint, ...args: string[]) => CliResult;
  laptopConfig: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  writeLaptop(): void;
  lost(): string[];
}

const FILES = { 'a.jpg': 'alpha bytes', 'sub/b.jpg': 'bravo bytes' };
const LATER = TEST_NOW_NS + 25n * DAY_NS;

function publicKeyOf(run: (nowNs: bigint, ...args: string[]) => CliResult): string {
  return json<{ public_key: string }>(run(TEST_NOW_NS, '--json', 'node', 'show')).public_key;
}

/** A laptop (volume photos -> nas, usb; offload needs nas; 20d age limit) and a node on the NAS, trusting each other. */
function twoNodes(options: { trustNasbox?: boolean } = {}): TwoNodes {
  const dir = tempDir();
  const nas = path.join(dir, 'nas');
  const usb = path.join(dir, 'usb');
  const volume = path.join(dir, 'photos');
  fs.mkdirSync(volume);
  const written: Record<string, string> = {};
  for (const [relative, text] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(volume, relative)), { recursive: true });
    fs.writeFileSync(path.join(volume, relative), text);
    written[relative] = sha256(text);
  }
  const runner = (configPath: string) => (nowNs: bigint, ...args: string[]) => bin(['--config', configPath, '--no-progress', ...args], { nowNs });
  const nasConfigPath = path.join(dir, 'nasbox.yaml');
  const laptopConfigPath = path.join(dir, 'laptop.yaml');
  const nasConfig: Record<string, unknown> = { node: 'nasbox', db: path.join(dir, 'nasbox', 'index.db'), destinations: { nas: { type: 'local', path: nas } } };
  fs.writeFileSync(nasConfigPath, YAML.stringify(nasConfig));
  const w: TwoNodes = {
    dir,
    nas,
    usb,
    volume,
    written,
    laptop: runner(laptopConfigPath),
    nasbox: runner(nasConfigPath),
    laptopConfig: {
      node: 'laptop',
      db: path.join(dir, 'laptop', 'index.db'),
      volumes: { photos: { path: volume, sync_to: ['nas', 'usb'], offload_requires: ['nas'], offload_max_evidence_age: '20d' } },
      destinations: { nas: { type: 'local', path: nas }, usb: { type: 'local', path: usb } },
    },
    writeLaptop: () => fs.writeFileSync(laptopConfigPath, YAML.stringify(w.laptopConfig)),
    lost: () => lostFiles({ volumeRoot: volume, destinations: { nas } }, written),
  };
  w.writeLaptop();
  if (options.trustNasbox !== false) w.laptopConfig.peers = { nasbox: { public_key: publicKeyOf(w.nasbox) } };
  w.writeLaptop();
  fs.writeFileSync(nasConfigPath, YAML.stringify({ ...nasConfig, peers: { laptop: { public_key: publicKeyOf(w.laptop) } } }));
  expect(w.laptop(TEST_NOW_NS, 'index', 'photos').code).toBe(0);
  expect(w.laptop(TEST_NOW_NS, 'sync', '--init').code).toBe(0);
  return w;
}

function ok(result: CliResult, what: string): CliResult {
  expect(result.code, `${what}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

describe('a node on the NAS vouches for the laptop', () => {
  it("the laptop's own evidence aged past the limit; the NAS node's attestation is pulled, and offload proceeds with nothing lost", () => {
    // setup
    const w = twoNodes();
    const refused = w.laptop(LATER, 'offload', 'photos', '.', '--offline');
    // act
    const attested = ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify --peer');
    const offload = ok(w.laptop(LATER, 'offload', 'photos', '.'), 'offload');
    const evidence = w.laptop(LATER, 'evidence', 'photos');
    // expect
    expect(refused.stdout).toMatch(/evidence-too-old/);
    expect(attested.stdout).toMatch(/namespace 'photos' checked=2 ok=2 missing=0 corrupt=0/);
    expect(fs.readdirSync(path.join(w.nas, '.squirrel-evidence', 'nasbox'))).toEqual(['1.json']);
    expect(offload.stdout).toMatch(/offloaded=2 /);
    expect(evidence.stdout).toMatch(/nas .*asserted by peer nasbox/);
    expect(w.lost()).toEqual([]);
  });

  it("a peer's corrupt finding marks the copy like a local verify: that file is refused until a sync re-sends it", () => {
    // setup: a byte flips in the NAS copy of a.jpg
    const w = twoNodes();
    fs.writeFileSync(path.join(w.nas, 'photos', 'a.jpg'), 'alpha bytez');
    // act
    const attested = w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop');
    const pulled = ok(w.laptop(LATER, 'peers', 'pull'), 'pull');
    const refused = w.laptop(LATER, 'offload', 'photos', '.', '--offline');
    const status = w.laptop(LATER, 'status', '--check', '--offline');
    ok(w.laptop(LATER, 'sync'), 'sync re-sends');
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'verify again');
    const offload = ok(w.laptop(LATER, 'offload', 'photos', '.'), 'offload');
    // expect
    expect(attested.code).toBe(1);
    expect(attested.stdout).toMatch(/corrupt=1/);
    expect(pulled.stdout).toMatch(/applied nasbox@nas #1: namespace 'photos': 1 of 2 copies verified, 0 missing, 1 corrupt/);
    // (b.jpg waits too: the vector moves all or nothing, so its own age still counts)
    expect(refused.stdout).toMatch(/refused on nas: lost-at-destination, 1 file/);
    expect(refused.stdout).toMatch(/offloaded=0 /);
    expect(status.code).toBe(2);
    expect(offload.stdout).toMatch(/offloaded=2 /);
    expect(fs.readFileSync(path.join(w.nas, 'photos', 'a.jpg'), 'utf8')).toBe('alpha bytes');
    expect(w.lost()).toEqual([]);
  });
});

describe('attestations that change nothing, and say why', () => {
  it("an untrusted node's attestation is ignored with a warning", () => {
    // setup: the laptop does not list nasbox under peers
    const w = twoNodes({ trustNasbox: false });
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify');
    // act
    const pulled = ok(w.laptop(LATER, 'peers', 'pull'), 'pull');
    const offload = w.laptop(LATER, 'offload', 'photos', '.', '--offline');
    // expect
    expect(pulled.stderr).toMatch(/'nasbox' is not a trusted peer/);
    expect(offload.stdout).toMatch(/offloaded=0 /);
  });

  it('a forged signature is ignored', () => {
    // setup: an attestation in nasbox's folder signed by another key
    const w = twoNodes();
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify');
    const file = path.join(w.nas, '.squirrel-evidence', 'nasbox', '1.json');
    const outer = JSON.parse(fs.readFileSync(file, 'utf8'));
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    outer.signature = crypto.sign(null, Buffer.from(outer.signed), privateKey).toString('base64');
    fs.writeFileSync(file, JSON.stringify(outer));
    // act
    const pulled = ok(w.laptop(LATER, 'peers', 'pull'), 'pull');
    const offload = w.laptop(LATER, 'offload', 'photos', '.', '--offline');
    // expect
    expect(pulled.stderr).toMatch(/attestation 1: its signature is not that node's \(forged or altered\); ignored/);
    expect(offload.stdout).toMatch(/offloaded=0 /);
  });

  it('a replayed seq is a no-op, a copy placed under another seq is ignored, and a rewind is refused naming the current seq', () => {
    // setup
    const w = twoNodes();
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify 1');
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify 2');
    const folder = path.join(w.nas, '.squirrel-evidence', 'nasbox');
    ok(w.laptop(LATER, 'peers', 'pull'), 'first pull');
    // act
    const again = ok(w.laptop(LATER, 'peers', 'pull'), 'same again');
    fs.copyFileSync(path.join(folder, '1.json'), path.join(folder, '3.json'));
    const replayed = ok(w.laptop(LATER, 'peers', 'pull'), 'replayed under 3');
    for (const name of ['2.json', '3.json']) fs.rmSync(path.join(folder, name));
    const rewound = ok(w.laptop(LATER, 'peers', 'pull'), 'rewound');
    // expect
    expect(again.stdout).toMatch(/applied=0 ignored=0/);
    expect(replayed.stderr).toMatch(/attestation 3: it names node 'nasbox' seq 1, not its own place; ignored/);
    expect(rewound.stderr).toMatch(/its newest attestation is 1, lower than 3 already applied: a rewind; refused, the current one stays 3/);
  });

  it("an attestation about a namespace that is not this node's is ignored", () => {
    // setup: the NAS node attests namespace 'photos'; meanwhile the laptop's volume moved to namespace 'photos-2' there
    const w = twoNodes();
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify');
    w.laptopConfig.volumes.photos.namespace = { nas: 'photos-2' };
    w.writeLaptop();
    // act
    const pulled = ok(w.laptop(LATER, 'peers', 'pull'), 'pull');
    // expect: the entry is about namespace photos, which is no longer this node's namespace at nas
    expect(pulled.stderr).toMatch(/about namespace 'photos' \(volume [0-9a-f]+\), which is not one of this node's volumes there; ignored/);
  });

  it('a peer clock far in the future is ignored, and the evidence does not look fresh', () => {
    // setup
    const w = twoNodes();
    ok(w.nasbox(TEST_NOW_NS + 400n * DAY_NS, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox verify, clock a year ahead');
    // act
    const pulled = ok(w.laptop(LATER, 'peers', 'pull'), 'pull');
    const offload = w.laptop(LATER, 'offload', 'photos', '.', '--offline');
    // expect
    expect(pulled.stderr).toMatch(/stamped 375d ahead of this node's clock \(a peer clock far in the future\); ignored/);
    expect(offload.stdout).toMatch(/offloaded=0 /);
  });
});

describe('publishing at once', () => {
  it('two nodes (and two processes of one node) publishing at the same time never lose or overwrite an attestation', async () => {
    // setup: both databases exist (creating one is not what races here)
    const w = twoNodes();
    ok(w.nasbox(LATER, 'verify', '--to', 'nas', '--peer', 'laptop'), 'nasbox first verify');
    const start = (config: string, args: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [BIN, '--config', path.join(w.dir, config), '--no-progress', ...args], { env: { ...process.env, SQUIRREL_TEST_NOW_NS: String(LATER) }, stdio: 'ignore' });
        child.on('exit', resolve);
      });
    // act: 4 laptop verifies and 4 nasbox peer verifies, all at once
    const codes = await Promise.all([
      ...Array.from({ length: 4 }, () => start('laptop.yaml', ['verify', '--to', 'nas'])),
      ...Array.from({ length: 4 }, () => start('nasbox.yaml', ['verify', '--to', 'nas', '--peer', 'laptop'])),
    ]);
    // expect: every process succeeded, every attestation is there once, signed, under its own seq
    // (a node's seq counts across destinations: the laptop's sync took 1 at nas and 2 at usb)
    expect(codes).toEqual(Array(8).fill(0));
    for (const [node, expected] of [['laptop', 5], ['nasbox', 5]] as const) {
      const names = fs.readdirSync(path.join(w.nas, '.squirrel-evidence', node));
      expect(names).toHaveLength(expected);
      for (const name of names) {
        const outer = JSON.parse(fs.readFileSync(path.join(w.nas, '.squirrel-evidence', node, name), 'utf8'));
        expect(JSON.parse(outer.signed).seq).toBe(parseInt(name));
      }
    }
  });
});

describe('node show', () => {
  it('prints a peers: snippet that pastes into a config as it is', () => {
    // setup
    const w = twoNodes({ trustNasbox: false });
    // act
    const shown = ok(w.nasbox(TEST_NOW_NS, 'node', 'show'), 'node show').stdout;
    // expect: the lines from `peers:` on are YAML naming the node and its key
    const snippet = shown.slice(shown.indexOf('peers:'));
    expect(YAML.parse(snippet)).toEqual({ peers: { nasbox: { public_key: publicKeyOf(w.nasbox) } } });
  });
});
