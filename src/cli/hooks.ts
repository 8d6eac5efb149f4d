// Test-only pause points. With SQUIRREL_TEST_PAUSE_AT=<point> and SQUIRREL_TEST_PAUSE_FILE=<file>,
// the process writes its pid to <file> when it reaches <point> and then waits until the file
// is removed (or it is killed). Crash and race tests use this to act at an exact step.

import fs from 'node:fs';
import { Hooks, noHooks } from '../core/reporter.js';

export function hooksFromEnv(env: NodeJS.ProcessEnv): Hooks {
  const point = env.SQUIRREL_TEST_PAUSE_AT;
  const file = env.SQUIRREL_TEST_PAUSE_FILE;
  if (!point || !file) return noHooks;
  const points = new Set(point.split(','));
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return {
    at(name: string) {
      if (!points.has(name)) return;
      points.delete(name);
      fs.writeFileSync(file, `${process.pid} ${name}\n`);
      while (fs.existsSync(file)) Atomics.wait(sleeper, 0, 0, 20);
    },
  };
}
