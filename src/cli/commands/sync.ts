// `squirrel sync [<volume>] [--to DEST] [--dry-run] [--init]`: push, read back, record evidence.

import { Command } from 'commander';
import { EXIT_CODES_HELP, Run } from '../main.js';
import { CommandContext } from '../context.js';
import { resolveTargets } from '../targets.js';
import { pushVolume, PushResult } from '../../core/push.js';
import { errorMessage, EXIT_OK, EXIT_OPERATIONAL, SquirrelError } from '../../errors.js';
import { pushLines } from '../render/evidence.js';

export function registerSync(program: Command, run: Run): void {
  program
    .command('sync')
    .argument('[volume]', 'volume to push (default: every volume)')
    .description('push every present file to each destination, read it back, and record durability evidence')
    .option('--to <destination>', 'only this destination')
    .option('--dry-run', 'show what would be sent; change nothing')
    .option('--init', 'first use of a destination: create its root and write its .squirrel-destination marker')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run(async (ctx: CommandContext, volumeName, opts) => {
        const o = opts as { to?: string; dryRun?: boolean; init?: boolean };
        const targets = resolveTargets(ctx, volumeName as string | undefined, o.to);
        const store = ctx.store();
        const results: PushResult[] = [];
        let exitCode = EXIT_OK;
        for (const target of targets) {
          const destination = ctx.destination(target.destination);
          try {
            results.push(
              await pushVolume(store, {
                volume: target.volume,
                destination,
                node: ctx.config().node,
                init: o.init === true,
                dryRun: o.dryRun === true,
                nowNs: ctx.nowNs,
                identity: ctx.identity(),
                reporter: ctx.reporter,
                hooks: ctx.deps.hooks,
              }),
            );
          } catch (err) {
            if (!(err instanceof SquirrelError)) throw err;
            exitCode = Math.max(exitCode, err.exitCode);
            results.push(failedResult(target.volume.name, target.destination, errorMessage(err)));
          }
        }
        ctx.emit({ results }, () => results.flatMap((r) => pushLines(r, ctx.nowNs)));
        if (!results.every((r) => r.status === 'success' || r.status === 'dry-run')) exitCode = Math.max(exitCode, EXIT_OPERATIONAL);
        return exitCode;
      }),
    );
}

function failedResult(volume: string, destination: string, message: string): PushResult {
  return {
    volume,
    destination,
    runId: null,
    status: 'failed',
    sentFiles: 0,
    sentBytes: 0,
    alreadyThereFiles: 0,
    movedAsideFiles: 0,
    failures: [],
    refused: [],
    clearedFindings: 0,
    notes: [],
    coverage: [],
    vector: [],
    message,
  };
}
