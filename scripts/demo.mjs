// npm run demo: the main job on a throwaway sandbox, through the real CLI.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'squirrel');
const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'squirrel-demo-'));
const configPath = path.join(sandbox, 'config.yaml');

function squirrel(...args) {
  console.log(`\n$ squirrel ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [bin, '--config', configPath, ...args], { stdio: 'inherit' });
  return result.status;
}

try {
  console.log(`sandbox: ${sandbox}`);
  const status = squirrel('init', '--path', sandbox);
  if (status !== 0) process.exitCode = 1;
  squirrel('config', 'check');
} finally {
  fs.rmSync(sandbox, { recursive: true, force: true });
  console.log(`\ncleaned up ${sandbox}`);
}
