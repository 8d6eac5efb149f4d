// npm run demo: the main job on a throwaway sandbox, through the real CLI and the bundled
// SQLite. A small photo-like tree, two local destinations, a policy with a maximum evidence
// age and exclude patterns: index, sync to one target, an offload that is refused (and why),
// sync to the second, verify, a successful offload, `ls` of what is where, and a restore. Everything lives in a temp dir, removed at the end.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'squirrel');
const sandbox = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'squirrel-demo-')));
const configPath = path.join(sandbox, 'config.yaml');
const volume = path.join(sandbox, 'Pictures');
let failed = false;

function say(text) {
  console.log(`\n# ${text}`);
}

function squirrel(args, { expect = [0] } = {}) {
  console.log(`$ squirrel ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [bin, '--config', configPath, '--no-progress', ...args], { encoding: 'utf8' });
  process.stdout.write(result.stdout.replace(new RegExp(sandbox, 'g'), '<sandbox>'));
  process.stderr.write(result.stderr.replace(new RegExp(sandbox, 'g'), '<sandbox>'));
  if (!expect.includes(result.status)) {
    console.error(`demo: expected exit ${expect.join(' or ')}, got ${result.status}`);
    failed = true;
    throw new Error('demo step failed');
  }
  return result;
}

function photo(relative, sizeBytes, seed) {
  const target = path.join(volume, relative);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const bytes = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) bytes[i] = (i * 31 + seed * 7) % 251;
  fs.writeFileSync(target, bytes);
}

function listVolume() {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.squirrel-')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(path.relative(volume, full));
    }
  };
  walk(volume);
  return files.sort();
}

try {
  say(`a sandbox in ${sandbox}: a photo tree and two "drives"`);
  photo('2019/beach/IMG_0001.jpg', 180_000, 1);
  photo('2019/beach/IMG_0002.jpg', 220_000, 2);
  photo('2019/party/IMG_0107.jpg', 150_000, 3);
  photo('2024/garden/IMG_4410.heic', 310_000, 4);
  photo('2019/beach/.DS_Store', 6_000, 5);
  photo('2019/party/Thumbs.db', 9_000, 6);
  fs.writeFileSync(
    configPath,
    [
      'node: demo-laptop',
      `db: ${path.join(sandbox, 'index.db')}`,
      'volumes:',
      '  pictures:',
      `    path: ${volume}`,
      '    sync_to: [nas, usb]',
      '    offload_requires: [nas, usb]',
      '    offload_max_evidence_age: 30d',
      '    exclude: [.DS_Store, Thumbs.db]',
      'destinations:',
      '  nas:',
      '    type: local',
      `    path: ${path.join(sandbox, 'nas')}`,
      '  usb:',
      '    type: local',
      `    path: ${path.join(sandbox, 'usb')}`,
      '',
    ].join('\n'),
  );
  squirrel(['config', 'check']);

  say('index the volume: BLAKE3 of every file into SQLite (.DS_Store and Thumbs.db are excluded)');
  squirrel(['index', 'pictures']);

  say('push to the NAS only (first use of a destination needs --init)');
  squirrel(['sync', 'pictures', '--to', 'nas', '--init']);

  say('try to free the 2019 photos: refused, the usb drive has no evidence yet');
  squirrel(['offload', 'pictures', '2019']);

  say('push to the usb drive as well, then re-verify both');
  squirrel(['sync', 'pictures', '--to', 'usb', '--init']);
  squirrel(['verify', 'pictures']);
  squirrel(['status', 'pictures']);

  say('preview, then offload the 2019 photos for real');
  squirrel(['offload', 'pictures', '2019', '--dry-run']);
  squirrel(['offload', 'pictures', '2019']);
  console.log(`local files now: ${listVolume().join(', ')}`);

  say('where is everything? ls shows each file present or offloaded, and its verified copies');
  squirrel(['ls', 'pictures']);
  squirrel(['ls', 'pictures', '2019/beach']);

  say('bring one back from the usb drive, hash-checked');
  squirrel(['restore', 'pictures', '2019/beach/IMG_0001.jpg', '--from', 'usb']);
  console.log(`local files now: ${listVolume().join(', ')}`);
  squirrel(['runs', '--limit', '12']);
} catch (err) {
  if (!failed) console.error(`demo: ${err.message}`);
  failed = true;
} finally {
  fs.rmSync(sandbox, { recursive: true, force: true });
  console.log(`\ncleaned up the sandbox`);
  if (failed) process.exitCode = 1;
}
