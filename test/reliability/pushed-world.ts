// The starting point most hostile and regression cases share: a World holding exactly the
// given files, indexed and pushed to both destinations in-process (fast), before the test
// breaks something. The seed is each suite's own, so a failing case replays as it ran.

import { expect } from 'vitest';
import { VOLUME, World } from './world.js';

export async function pushedWorld(files: Record<string, string | Buffer>, seed: number): Promise<World> {
  const world = new World({ seed, files: 0 });
  for (const [relativePath, bytes] of Object.entries(files)) world.write(relativePath, Buffer.from(bytes));
  for (const args of [['index', VOLUME], ['sync', VOLUME, '--init']]) {
    const result = await world.cli(args);
    expect(result.code, result.stderr).toBe(0);
  }
  return world;
}
