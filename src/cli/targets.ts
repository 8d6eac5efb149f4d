// Resolving `[<volume>] [--to DEST]` into (volume, destination) pairs, shared by sync and verify.

import { VolumeConfig } from '../config/types.js';
import { UsageError } from '../errors.js';
import { CommandContext } from './context.js';

export interface Target {
  volume: VolumeConfig;
  destination: string;
}

export function resolveTargets(ctx: CommandContext, volumeName: string | undefined, to: string | undefined): Target[] {
  const config = ctx.config();
  if (to !== undefined && !config.destinations.has(to)) {
    throw new UsageError(`--to ${to}: no such destination in ${config.source}; destinations: ${[...config.destinations.keys()].join(', ') || '(none)'}`);
  }
  const volumes = volumeName !== undefined ? [ctx.volume(volumeName)] : [...config.volumes.values()];
  const targets: Target[] = [];
  for (const volume of volumes) {
    if (to !== undefined) {
      if (!volume.syncTo.includes(to)) {
        if (volumeName !== undefined) throw new UsageError(`volume '${volume.name}' does not sync to '${to}' (sync_to: ${volume.syncTo.join(', ') || 'none'})`);
        continue;
      }
      targets.push({ volume, destination: to });
    } else {
      for (const destination of volume.syncTo) targets.push({ volume, destination });
    }
  }
  if (targets.length === 0) throw new UsageError('nothing to do: no volume syncs to the given destination(s); check sync_to in the config');
  return targets;
}
