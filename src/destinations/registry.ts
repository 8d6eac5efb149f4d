// Turns a validated destination config into a Destination. Only `local` exists in this build;
// the other configured types fail with an error that says so, rather than at first use.

import { DestinationConfig } from '../config/types.js';
import { OperationalError } from '../errors.js';
import { Destination } from './destination.js';
import { LocalDestination } from './local.js';

export function createDestination(config: DestinationConfig): Destination {
  switch (config.type) {
    case 'local':
      return new LocalDestination(config.name, config.path);
    case 's3':
    case 'sftp':
      throw new OperationalError(
        `destination '${config.name}': type '${config.type}' is not available in this build of squirrel yet; ` +
          `use a 'local' destination (mount the remote and point 'path' at the mount) or leave '${config.name}' out of sync_to`,
        'destination-type-unavailable',
      );
    default: {
      const unknown: never = config;
      throw new OperationalError(`destination type '${(unknown as { type: string }).type}' is not known to this build`, 'destination-type-unavailable');
    }
  }
}
