// `squirrel runs`: the run sequence, newest first; --since resumes after a run id.

import { Command } from 'commander';
import { EXIT_CODES_HELP, Run } from '../main.js';
import { CommandContext } from '../context.js';
import { parseCount } from '../parse.js';
import { isoFromNs } from '../../clock.js';
import { table } from '../render/format.js';

export function registerRuns(program: Command, run: Run): void {
  program
    .command('runs')
    .description('list runs, newest first')
    .option('--volume <name>', 'only this volume')
    .option('--limit <n>', 'at most N runs', '20')
    .option('--since <run>', 'only runs after this run id (to resume a script where it left off)')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run((ctx: CommandContext, opts) => {
        const o = opts as { volume?: string; limit: string; since?: string };
        const limit = parseCount('--limit', o.limit, 1);
        const sinceRunId = o.since === undefined ? undefined : parseCount('--since', o.since);
        const store = ctx.store();
        let volumeId: number | undefined;
        if (o.volume !== undefined) {
          ctx.volume(o.volume);
          volumeId = store.volume(o.volume)?.id ?? -1;
        }
        const runs = store.runs.list({ volumeId, limit, sinceRunId }).map((r) => ({
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
        }));
        ctx.emit({ runs }, () => {
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
      }),
    );
}
