// `squirrel offload <volume> [path...]`: the durability gate, then re-check and unlink, all in
// core (offloadVolume); here the flags, the report and the exit code (3 only with --strict).

import { arg, defineCommand, option } from '../command.js';
import { parseDurationFlag } from '../parse.js';
import { offloadVolume } from '../../core/offload/offload.js';
import { parseSelectors } from '../../core/selectors.js';
import { pullBefore } from './peers.js';
import { EXIT_OK, EXIT_OPERATIONAL, EXIT_REFUSED_STRICT } from '../../errors.js';
import { offloadReportJson, renderOffloadReport } from '../render/offload-report.js';

const HELP = `Selectors are volume-relative paths or prefixes, segment-bounded ('Photos/2019' never
selects 'Photos/2019-extra'); '.' selects the whole volume and must be given explicitly.`;

export const offloadCommand = defineCommand({
  name: 'offload',
  description: 'delete local files whose bytes every required destination provably holds',
  args: {
    volumeName: arg.required('volume', 'volume'),
    paths: arg.variadic('paths', "volume-relative paths or prefixes; '.' for the whole volume"),
  },
  options: {
    olderThan: option.value('--older-than <duration>', 'only files whose indexed mtime is older than this, e.g. 180d'),
    dryRun: option.flag('--dry-run', 'show the decision; read nothing but the index, change nothing'),
    perFile: option.flag('--per-file', 'list every blocked path'),
    strict: option.flag('--strict', 'exit 3 when anything was refused (for cron alerting)'),
    offline: option.flag('--offline', "do not first apply trusted peers' attestations from the destinations"),
  },
  help: HELP,
  exitCodes: {
    meanings: {
      [EXIT_OPERATIONAL]: 'operational error, or a file that could not be removed (run partial)',
      [EXIT_REFUSED_STRICT]: 'only with --strict: something was refused or skipped as drift',
    },
  },
  action: async (ctx, { volumeName, paths, olderThan, dryRun, perFile, strict, offline }) => {
    const selectors = parseSelectors(paths);
    const olderThanMs = olderThan === undefined ? null : parseDurationFlag('--older-than', olderThan);
    const volume = ctx.volume(volumeName);
    const store = ctx.store();
    // A dry run changes nothing and reads nothing beyond the index, so it applies no attestation.
    await pullBefore(ctx, [volume], volume.offloadRequires ?? [], offline || dryRun);
    const { plan, outcome, nothingSelected } = await offloadVolume(store, {
      volume,
      selectors,
      olderThanMs,
      dryRun,
      perFile,
      node: ctx.config().node,
      openDestination: (name) => ctx.destination(name),
      ...ctx.runContext(),
    });
    if (nothingSelected) {
      ctx.emit(offloadReportJson(plan, null), () => ['nothing selected; nothing was done']);
      return EXIT_OK;
    }
    if (outcome) await ctx.publishCatalog(plan.policy.requiredTargets, { material: outcome.offloaded.length > 0 });
    ctx.emit(offloadReportJson(plan, outcome), () => renderOffloadReport(plan, outcome));
    if (outcome && outcome.errors.length > 0) return EXIT_OPERATIONAL;
    if (strict && (plan.refusedFiles > 0 || (outcome?.drift.length ?? 0) > 0 || (outcome?.refused.length ?? 0) > 0)) return EXIT_REFUSED_STRICT;
    return EXIT_OK;
  },
});
