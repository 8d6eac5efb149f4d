// Turns a validated destination config into a Destination. Network destinations load their
// client libraries on first use, so commands that never touch them do not pay for it.

import os from 'node:os';
import { DestinationConfig } from '../config/types.js';
import { OperationalError } from '../errors.js';
import { Destination } from './destination.js';
import { FileHasher, LocalDestination } from './local/local.js';
import { PutPool } from './local/put-pool.js';
import { S3Destination } from './s3/s3.js';
import { SftpDestination } from './sftp/sftp.js';

export interface DestinationEnvironment {
  /** For ~/.ssh/known_hosts. */
  homeDir: string;
  /** SSH_AUTH_SOCK, for keys held by an ssh-agent. */
  sshAgentSocket: string | null;
  /** Local destinations hash large files on it (the index's worker pool); null: in-thread. */
  fileHasher?: FileHasher | null;
  /** Local destinations put on its threads; null: in-thread. */
  putPool?: PutPool | null;
}

export function defaultDestinationEnvironment(env: NodeJS.ProcessEnv = process.env): DestinationEnvironment {
  return { homeDir: os.homedir(), sshAgentSocket: env.SSH_AUTH_SOCK || null };
}

export function createDestination(config: DestinationConfig, environment: DestinationEnvironment = defaultDestinationEnvironment()): Destination {
  switch (config.type) {
    case 'local':
      return new LocalDestination(config.name, config.path, environment.fileHasher ?? null, environment.putPool ?? null);
    case 's3':
      return new S3Destination(config);
    case 'sftp':
      return new SftpDestination(config, { homeDir: environment.homeDir, agentSocket: environment.sshAgentSocket });
    default: {
      const unknown: never = config;
      throw new OperationalError(`destination type '${(unknown as { type: string }).type}' is not known to this build`, 'destination-type-unavailable');
    }
  }
}
