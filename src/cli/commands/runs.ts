// `squirrel runs`: the run sequence, newest first. --since resumes after a run id, so a script
// can follow the runs by sequence number rather than by clock.

import { defineCommand, option } from '../command.js';
import { parseCount } from '../parse.js';
import { isoFromNs } from '../../clock.js';
import { EXIT_OK, EXIT_USAGE } from '../../errors.js';
import { table } from '../render/format.js';
import type { RunRow } from '../../store/types.js';

/** A run as listed: its row with the counts parsed. */
function listed(r: RunRow) {
  return {
    id: r.id,
    kind: r.kind,
    volume: r.volumeName,
    destination: r.destination,
    status: r.status,
    startedAtNs: r.startedAtNs,
    endedAtNs: r.endedAtNs,
    pid: r.pid,
    host: r.host,
    counts: JSON.parse(r.counts) as Record<string, number>,
    note: r.note,
  };
}

/** The --json document of runs, newest first. */
export interface RunsReport {
  runs: ReturnType<typeof listed>[];
}

export const runsCommand = defineCommand({
  name: 'runs',
  description: 'list runs, newest first',
  options: {
    volume: option.value('--volume <name>', 'only this volume'),
    limit: option.withDefault('--limit <n>', 'at most N runs', '20'),
    since: option.value('--since <run>', 'only runs after this run id (to resume a script where it left off)'),
  },
  exitCodes: { shared: [EXIT_OK, EXIT_USAGE] },
  action: (ctx, { volume, limit: limitText, since }) => {
    const limit = parseCount('--limit', limitText, 1);
    const sinceRunId = since === undefined ? undefined : parseCount('--since', since);
    const store = ctx.store();
    let volumeId: number | undefined;
    if (volume !== undefined) {
      ctx.volume(volume);
      volumeId = store.volume(volume)?.id ?? -1;
    }
    const runs = store.runs.list({ volumeId, limit, sinceRunId }).map(listed);
    const report: RunsReport = { runs };
    ctx.emit(report, () => {
      if (runs.length === 0) return ['no runs'];
      return table([
        ['RUN', 'KIND', 'VOLUME', 'DEST', 'STATUS', 'STARTED', 'COUNTS'],
        ...runs.map((r) => [
          String(r.id),
          r.kind,
          r.volume ?? '-',
          r.destination ?? '-',
          r.status,
          isoFromNs(r.startedAtNs),
          Object.entries(r.counts).map(([k, v]) => `${k}=${v}`).join(' ') + (r.note ? `  (${r.note})` : ''),
        ]),
      ]);
    });
  },
});
