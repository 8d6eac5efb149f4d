// `squirrel offload <volume> [path...]`: the durability gate, then re-check and unlink.

import { Command } from 'commander';
import { Run } from '../main.js';
import { CommandContext } from '../context.js';
import { parseDurationFlag } from '../parse.js';
import { parseSelectors, planOffload } from '../../core/offload/plan.js';
import { executeOffload, OffloadOutcome } from '../../core/offload/execute.js';
import { beginRun } from '../../core/runs.js';
import { EXIT_OK, EXIT_OPERATIONAL, EXIT_REFUSED_STRICT } from '../../errors.js';
import { offloadReportJson, renderOffloadReport } from '../render/offload-report.js';

const HELP = `
Selectors are volume-relative paths or prefixes, segment-bounded ('Photos/2019' never
selects 'Photos/2019-extra'); '.' selects the whole volume and must be given explicitly.

Exit codes:
  0  ok (a refusal to offload is a normal outcome)
  1  operational error, or a file that could not be removed (run partial)
  2  usage or configuration error
  3  only with --strict: something was refused or skipped as drift`;

export function registerOffload(program: Command, run: Run): void {
  program
    .command('offload')
    .argument('<volume>', 'volume')
    .argument('[paths...]', "volume-relative paths or prefixes; '.' for the whole volume")
    .description('delete local files whose bytes every required destination provably holds')
    .option('--older-than <duration>', 'only files whose indexed mtime is older than this, e.g. 180d')
    .option('--dry-run', 'show the decision; read nothing but the index, change nothing')
    .option('--per-file', 'list every blocked path')
    .option('--strict', 'exit 3 when anything was refused (for cron alerting)')
    .addHelpText('after', HELP)
    .action(
      run(async (ctx: CommandContext, volumeName, paths, opts) => {
        const o = opts as { olderThan?: string; dryRun?: boolean; perFile?: boolean; strict?: boolean };
        const selectors = parseSelectors(paths as string[]);
        const olderThanMs = o.olderThan === undefined ? null : parseDurationFlag('--older-than', o.olderThan);
        const volume = ctx.volume(volumeName as string);
        const store = ctx.store();
        const identity = ctx.identity();
        const plan = planOffload(store, volume, selectors, { olderThanMs, nowNs: ctx.nowNs, thisNodeId: identity.nodeId, perFile: o.perFile, reporter: ctx.reporter });
        if (plan.candidates === 0 && plan.unmatchedSelectors.length === plan.selectors.length) {
          ctx.emit(offloadReportJson(plan, null), () => ['nothing selected; nothing was done']);
          return EXIT_OK;
        }
        let outcome: OffloadOutcome | null = null;
        if (!o.dryRun) {
          const runId = beginRun(store, { ...identity, kind: 'offload', volumeId: plan.volumeId, destination: null, nowNs: ctx.nowNs });
          const destinations = new Map(plan.policy.requiredTargets.map((name) => [name, ctx.destination(name)]));
          outcome = await executeOffload(store, plan, { runId, nowNs: ctx.nowNs, volume, node: ctx.config().node, destinations, reporter: ctx.reporter, hooks: ctx.deps.hooks });
          const status = outcome.errors.length > 0 ? 'partial' : 'success';
          store.runs.finishRun(runId, status, {
            offloaded: outcome.offloaded.length,
            not_durable: plan.refusedFiles + new Set(outcome.refused.map((r) => r.path)).size,
            drift: outcome.drift.length,
            errors: outcome.errors.length,
            // files whose evidence changed between the plan and the unlink, judged again on fresh rows
            reevaluated: outcome.reevaluated,
          }, ctx.nowNs);
        }
        ctx.emit(offloadReportJson(plan, outcome), () => renderOffloadReport(plan, outcome));
        if (outcome && outcome.errors.length > 0) return EXIT_OPERATIONAL;
        if (o.strict && (plan.refusedFiles > 0 || (outcome?.drift.length ?? 0) > 0 || (outcome?.refused.length ?? 0) > 0)) return EXIT_REFUSED_STRICT;
        return EXIT_OK;
      }),
    );
}
