// `squirrel verify [<volume>] [--to DEST] [--max-duration D] [--sample P] [--adopt]`: re-read copies,
// least recently verified first, so a bounded cron run still covers everything over time.

import { arg, defineCommand, option } from '../command.js';
import { resolveTargets } from '../targets.js';
import { parseDurationFlag, parsePercent } from '../parse.js';
import { verifyVolume, VerifyResult } from '../../core/verify.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';
import { verifyLines } from '../render/evidence.js';
import { METHOD_REVERIFY } from '../../core/methods.js';
import { verifyPeerAction } from './peers.js';

/** The --json document of verify. */
export interface VerifyReport {
  results: VerifyResult[];
}

export const verifyCommand = defineCommand({
  name: 'verify',
  description: 're-read destination copies (least recently verified first) and re-stamp evidence only on genuine re-verification',
  args: { volumeName: arg.optional('volume', 'volume to verify (default: every volume)') },
  options: {
    to: option.value('--to <destination>', 'only this destination'),
    maxDuration: option.value('--max-duration <duration>', 'stop starting new reads after this long, e.g. 1h'),
    sample: option.value('--sample <percent>', 'only the least recently verified P percent of copies'),
    adopt: option.flag('--adopt', 'this index was put back from a backup: re-read every copy it records and then take on namespaces written since (refused with --sample or --max-duration)'),
    peer: option.value('--peer <name>', "verify a trusted peer's copies at --to (as its newest signed catalog lists them) and publish an attestation"),
  },
  exitCodes: { note: 'verify exits 1 when any copy is missing, corrupt or unreadable.' },
  action: async (ctx, { volumeName, to, maxDuration, sample, adopt, peer }) => {
    if (peer !== undefined) return verifyPeerAction(ctx, to, peer);
    const maxDurationMs = maxDuration === undefined ? null : parseDurationFlag('--max-duration', maxDuration);
    const samplePercent = sample === undefined ? null : parsePercent('--sample', sample);
    if (adopt && (maxDurationMs !== null || samplePercent !== null)) {
      throw new UsageError('--adopt re-reads every copy before it takes a namespace on; leave out --sample and --max-duration');
    }
    const targets = resolveTargets(ctx, volumeName, to);
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
          adopt,
          clock: ctx.deps.clock,
          nowNs: ctx.nowNs,
          identity: ctx.identity(),
          reporter: ctx.reporter,
          hooks: ctx.deps.hooks,
        }),
      );
    }
    const report: VerifyReport = { results };
    const done = results.filter((r) => r.runId !== null);
    // A verify that found every copy sound changed only times.
    const catalogs = await ctx.publishCatalog(done.map((r) => r.destination), { material: done.some((r) => r.problems.length > 0 || r.raced > 0) });
    await ctx.publishAttestations(
      done.map((r) => ({ volume: ctx.volume(r.volume), destination: r.destination, runId: r.runId!, method: METHOD_REVERIFY, checked: r.checked, ok: r.ok })),
      catalogs,
    );
    ctx.emit(report, () => results.flatMap((r) => verifyLines(r, ctx.nowNs)));
    return results.every((r) => r.status === 'success') ? EXIT_OK : EXIT_OPERATIONAL;
  },
});
