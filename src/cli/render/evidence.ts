// Text for vector outcomes and sync/verify results: a line of counts per (volume, destination),
// then its failures (the first 50; --json has them all) and what happened to its evidence.

import { PushResult } from '../../core/push.js';
import { RestampOutcome } from '../../core/restamp.js';
import { VerifyResult } from '../../core/verify.js';
import { formatAge } from '../../duration.js';
import { formatBytes } from './format.js';

export function vectorLines(destination: string, outcomes: RestampOutcome[], nowNs: bigint): string[] {
  return outcomes.map((v) => {
    const verified = v.verifiedAtNs === null ? 'verified: unknown' : `verified ${formatAge(nowNs - v.verifiedAtNs)}`;
    const what = v.outcome === 'not-verified' ? v.detail : `${v.outcome}${v.reevaluated ? ' (re-evaluated: changed meanwhile)' : ''}`;
    return `  evidence ${destination}: origin ${v.originNode} through run ${v.originRunId}, ${verified} — ${what}`;
  });
}

export function pushLines(r: PushResult, nowNs: bigint): string[] {
  const head =
    r.status === 'dry-run'
      ? `sync ${r.volume} -> ${r.destination} (dry run): would send ${r.sentFiles} file(s) (${formatBytes(r.sentBytes)}), ${r.alreadyThereFiles} already there`
      : `sync ${r.volume} -> ${r.destination}: ${r.status} sent=${r.sentFiles} (${formatBytes(r.sentBytes)}) already_there=${r.alreadyThereFiles} ` +
        `moved_aside=${r.movedAsideFiles} failed=${r.failures.length} run=${r.runId ?? '-'}`;
  const lines = [head];
  for (const note of r.notes) lines.push(`  ${note}`);
  for (const f of r.failures.slice(0, 50)) lines.push(`  failed: ${f.path}: ${f.reason}`);
  if (r.failures.length > 50) lines.push(`  ... and ${r.failures.length - 50} more failures (see --json)`);
  for (const f of r.refused.slice(0, 50)) lines.push(`  refused (${f.reason}): ${f.detail}`);
  if (r.refused.length > 50) lines.push(`  ... and ${r.refused.length - 50} more refused (see --json)`);
  if (r.clearedFindings > 0) lines.push(`  cleared ${r.clearedFindings} missing/corrupt finding(s): the same bytes have a sound copy at '${r.destination}' now`);
  lines.push(...vectorLines(r.destination, r.vector, nowNs));
  if (r.message) lines.push(`  ${r.message}`);
  return lines;
}

export function verifyLines(r: VerifyResult, nowNs: bigint): string[] {
  const lines = [
    `verify ${r.volume} @ ${r.destination}: ${r.status} checked=${r.checked}/${r.copiesTotal} ok=${r.ok} problems=${r.problems.length}` +
      `${r.raced ? ` raced=${r.raced}` : ''}${r.stoppedEarly ? ' (stopped at --max-duration)' : ''} run=${r.runId ?? '-'}`,
  ];
  for (const p of r.problems.slice(0, 50)) lines.push(`  ${p.state.toUpperCase()}: ${p.path}: ${p.detail}`);
  if (r.problems.length > 50) lines.push(`  ... and ${r.problems.length - 50} more (see --json)`);
  if (r.problems.some((p) => p.state !== 'unreadable')) {
    lines.push(`  next: the copies above are recorded as lost; \`squirrel sync ${r.volume} --to ${r.destination}\` re-sends them if the local files are still present`);
  }
  if (r.adoptedWrites !== null) lines.push(`  adopted: this index now counts namespace writes at '${r.destination}' from ${r.adoptedWrites}; sync works there again`);
  lines.push(...vectorLines(r.destination, r.vector, nowNs));
  if (r.message && r.status === 'failed' && r.problems.length === 0) lines.push(`  ${r.message}`);
  return lines;
}
