// `squirrel verify [<volume>] [--to DEST] [--max-duration D] [--sample P]`: re-read copies.

import { Command } from 'commander';
import { EXIT_CODES_HELP, Run } from '../main.js';
import { CommandContext } from '../context.js';
import { resolveTargets } from '../targets.js';
import { parseDurationFlag, parsePercent } from '../parse.js';
import { verifyVolume, VerifyResult } from '../../core/verify.js';
import { EXIT_OK, EXIT_OPERATIONAL } from '../../errors.js';
import { verifyLines } from '../render/evidence.js';

export function registerVerify(program: Command, run: Run): void {
  program
    .command('verify')
    .argument('[volume]', 'volume to verify (default: every volume)')
    .description('re-read destination copies (least recently verified first) and re-stamp evidence only on genuine re-verification')
    .option('--to <destination>', 'only this destination')
    .option('--max-duration <duration>', 'stop starting new reads after this long, e.g. 1h')
    .option('--sample <percent>', 'only the least recently verified P percent of copies')
    .addHelpText('after', `${EXIT_CODES_HELP}\n\nverify exits 1 when any copy is missing, corrupt or unreadable.`)
    .action(
      run(async (ctx: CommandContext, volumeName, opts) => {
        const o = opts as { to?: string; maxDuration?: string; sample?: string };
        const maxDurationMs = o.maxDuration === undefined ? null : parseDurationFlag('--max-duration', o.maxDuration);
        const samplePercent = o.sample === undefined ? null : parsePercent('--sample', o.sample);
        const targets = resolveTargets(ctx, volumeName as string | undefined, o.to);
        const store = ctx.store();
        const results: VerifyResult[] = [];
        for (const target of targets) {
          results.push(
            await verifyVolume(store, {
              volume: target.volume,
              destination: ctx.destination(target.destination),
              node: ctx.config().node,
              samplePercent,
              maxDurationMs,
              clock: ctx.deps.clock,
              nowNs: ctx.nowNs,
              identity: ctx.identity(),
              reporter: ctx.reporter,
              hooks: ctx.deps.hooks,
            }),
          );
        }
        ctx.emit({ results }, () => results.flatMap((r) => verifyLines(r, ctx.nowNs)));
        return results.every((r) => r.status === 'success') ? EXIT_OK : EXIT_OPERATIONAL;
      }),
    );
}
