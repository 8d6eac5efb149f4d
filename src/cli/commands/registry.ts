// Every command, in the order `squirrel --help` lists them. main.ts attaches this list; the
// commands themselves never see main.ts, so nothing here is loaded in a circle.

import type { CommandDefinition } from '../command.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';
import { evidenceCommand } from './evidence.js';
import { indexCommand } from './index.js';
import { initCommand } from './init.js';
import { lsCommand } from './ls.js';
import { offloadCommand } from './offload.js';
import { queryCommand } from './query.js';
import { recoverCommand } from './recover.js';
import { nodeCommand, peersCommand } from './peers.js';
import { restoreCommand } from './restore.js';
import { runsCommand } from './runs.js';
import { statusCommand } from './status.js';
import { syncCommand } from './sync.js';
import { verifyCommand } from './verify.js';

export const COMMANDS: readonly CommandDefinition[] = [
  initCommand,
  configCommand,
  indexCommand,
  syncCommand,
  verifyCommand,
  offloadCommand,
  restoreCommand,
  statusCommand,
  lsCommand,
  evidenceCommand,
  runsCommand,
  queryCommand,
  recoverCommand,
  nodeCommand,
  peersCommand,
  completionCommand,
];
