// The offload report: refusals grouped by (target, reason) with a count, the coordinates and
// the `next:` act that clears them; each required target's "satisfied for S of N"; the files
// that would go (dry run) or went; and the totals line scripts read:
// `offloaded=A not_durable=B drift=C errors=D run=ID` (run=- for a dry run).

import type { CopyRefusal } from '../../core/offload/copies.js';
import type { OffloadPlan, RefusalGroup } from '../../core/offload/plan.js';
import { formatBytes } from './format.js';

/** What executing a plan did; absent for a dry run. */
export interface OffloadExecution {
  runId: number;
  offloaded: readonly string[];
  /** Files skipped because the disk or the evidence no longer matched the plan: nothing deleted. */
  drift: readonly { path: string; reason: string }[];
  errors: readonly { path: string; message: string }[];
  /** Files a required destination could not show its copy of just before the unlink: kept. */
  refused: readonly CopyRefusal[];
}

export interface OffloadTotals {
  offloaded: number;
  notDurable: number;
  drift: number;
  errors: number;
  /** null for a dry run. */
  run: number | null;
}

/** Paths listed per section unless --per-file asks for all of them. */
export const LISTED_PATHS = 20;

export function offloadTotals(plan: OffloadPlan, execution: OffloadExecution | null): OffloadTotals {
  return {
    offloaded: execution?.offloaded.length ?? 0,
    notDurable: plan.refusedFiles + new Set(execution?.refused.map((r) => r.path) ?? []).size,
    drift: execution?.drift.length ?? 0,
    errors: execution?.errors.length ?? 0,
    run: execution?.runId ?? null,
  };
}

export function totalsLine(totals: OffloadTotals): string {
  return `offloaded=${totals.offloaded} not_durable=${totals.notDurable} drift=${totals.drift} errors=${totals.errors} run=${totals.run ?? '-'}`;
}

/** The text report; execution null means a dry run. */
export function renderOffloadReport(plan: OffloadPlan, execution: OffloadExecution | null): string[] {
  const lines: string[] = [];
  const more = (total: number, shown: number, what: string) =>
    total > shown ? [`... and ${total - shown} more ${what} (--per-file lists them all)`] : [];

  if (execution === null) {
    const shown = plan.perFile ? plan.allowed.length : Math.min(plan.allowed.length, LISTED_PATHS);
    for (let i = 0; i < shown; i++) lines.push(`would offload ${plan.allowed.path(i)}`);
    lines.push(...more(plan.allowed.length, shown, 'files would be offloaded'));
  } else {
    const shown = plan.perFile ? execution.offloaded : execution.offloaded.slice(0, LISTED_PATHS);
    for (const p of shown) lines.push(`offloaded ${p}`);
    lines.push(...more(execution.offloaded.length, shown.length, 'files offloaded'));
    // Drift and errors are always listed in full: each one is a file that needs a look.
    for (const d of execution.drift) lines.push(`drift ${d.path}: ${d.reason}; nothing deleted`);
    for (const e of execution.errors) lines.push(`error ${e.path}: ${e.message}`);
  }

  for (const group of allGroups(plan, execution)) lines.push(...groupLines(group));
  for (const t of plan.targets) lines.push(`${t.target}: satisfied for ${t.satisfied} of ${t.of}`);

  if (plan.reservedSkipped > 0) lines.push(`skipped ${plan.reservedSkipped} file(s) under reserved '.squirrel-*' paths (never offloaded)`);
  if (plan.tooRecent > 0) lines.push(`left out ${plan.tooRecent} file(s) not older than --older-than`);
  if (execution === null) {
    lines.push(`dry run: would offload ${plan.allowed.length} of ${plan.candidates} file(s) (${formatBytes(plan.allowed.totalBytes)}); nothing was deleted`);
  }
  lines.push(totalsLine(offloadTotals(plan, execution)));
  return lines;
}

/** The plan's refusal groups, then those the last look at the destinations added (per target). */
function allGroups(plan: OffloadPlan, execution: OffloadExecution | null): RefusalGroup[] {
  const late = new Map<string, CopyRefusal[]>();
  for (const r of execution?.refused ?? []) late.set(r.target, [...(late.get(r.target) ?? []), r]);
  const groups = [...plan.groups];
  for (const [target, refusals] of late) {
    const shown = plan.perFile ? refusals : refusals.slice(0, LISTED_PATHS);
    groups.push({
      target,
      reason: 'copy-not-found',
      count: refusals.length,
      summary: `no copy of these bytes was found at ${target} just before the unlink; nothing deleted`,
      next: `squirrel verify ${plan.volume} --to ${target}, then squirrel sync ${plan.volume} --to ${target}`,
      coordinates: [...new Set(refusals.map((r) => r.detail))].slice(0, 5),
      paths: shown.map((r) => r.path),
      pathsComplete: shown.length === refusals.length,
    });
  }
  return groups;
}

function groupLines(group: RefusalGroup): string[] {
  const lines = [
    `refused on ${group.target}: ${group.reason}, ${group.count} file(s): ${group.summary}`,
    ...group.coordinates.map((c) => `  ${c}`),
    `  next: ${group.next}`,
    ...group.paths.map((p) => `    ${p}`),
  ];
  if (!group.pathsComplete) lines.push(`    ... and ${group.count - group.paths.length} more (--per-file lists them all)`);
  return lines;
}

/** The --json document: plain data, every list bounded exactly as in the text unless --per-file. */
export function offloadReportJson(plan: OffloadPlan, execution: OffloadExecution | null) {
  const allowedShown = plan.perFile ? plan.allowed.length : Math.min(plan.allowed.length, LISTED_PATHS);
  const allowedPaths: string[] = [];
  for (let i = 0; i < allowedShown; i++) allowedPaths.push(plan.allowed.path(i));
  return {
    volume: plan.volume,
    dryRun: execution === null,
    selectors: plan.selectors.map((s) => s.path),
    olderThanMs: plan.olderThanMs,
    requiredTargets: plan.policy.requiredTargets,
    unmatchedSelectors: plan.unmatchedSelectors,
    candidates: plan.candidates,
    tooRecent: plan.tooRecent,
    reservedSkipped: plan.reservedSkipped,
    excludedSkipped: plan.excludedSkipped,
    allowed: {
      files: plan.allowed.length,
      bytes: plan.allowed.totalBytes,
      paths: allowedPaths,
      pathsComplete: allowedShown === plan.allowed.length,
    },
    refusals: allGroups(plan, execution).map((g) => ({ ...g })),
    targets: plan.targets,
    execution:
      execution === null
        ? null
        : {
            runId: execution.runId,
            offloaded: plan.perFile ? [...execution.offloaded] : execution.offloaded.slice(0, LISTED_PATHS),
            offloadedComplete: plan.perFile || execution.offloaded.length <= LISTED_PATHS,
            drift: execution.drift,
            errors: execution.errors,
          },
    totals: offloadTotals(plan, execution),
  };
}

export type OffloadReportJson = ReturnType<typeof offloadReportJson>;
