// Every command, registered in the order `squirrel --help` lists them.

import { Command } from 'commander';
import type { Run } from '../main.js';
import { registerInit } from './init.js';
import { registerConfig } from './config.js';
import { registerRuns } from './runs.js';
import { registerIndex } from './index.js';
import { registerQuery } from './query.js';
import { registerSync } from './sync.js';
import { registerVerify } from './verify.js';
import { registerStatus } from './status.js';
import { registerEvidence } from './evidence.js';
import { registerOffload } from './offload.js';
import { registerRestore } from './restore.js';

export function registerCommands(program: Command, run: Run): void {
  registerInit(program, run);
  registerConfig(program, run);
  registerIndex(program, run);
  registerSync(program, run);
  registerVerify(program, run);
  registerOffload(program, run);
  registerRestore(program, run);
  registerStatus(program, run);
  registerEvidence(program, run);
  registerRuns(program, run);
  registerQuery(program, run);
}
