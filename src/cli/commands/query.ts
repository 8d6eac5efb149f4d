// `squirrel query <hash-or-path> [--history] [--volume V]`: look a content or a path up. The
// index is only read (a missing database is not created), and not found is exit 1 for scripts.

import path from 'node:path';
import { arg, defineCommand, option } from '../command.js';
import type { CommandContext } from '../context.js';
import { ContentQueryResult, FileSummary, PathQueryResult, queryContent, queryPath } from '../../core/index/query.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';
import { parseBlake3Hex } from '../../hash.js';
import { isoFromNs } from '../../clock.js';
import { unsafeRelativePath } from '../../paths.js';

const HELP = `Arguments:
  A 64-hex-digit argument is a BLAKE3 content hash: where the content is in the volumes,
  its origin (node and run), and which destinations hold a copy (from the copy ledger).
  Anything else is a volume path, named either way (or bare, when only one volume is
  configured):
    squirrel query photos:2019/beach.jpg
    squirrel query --volume photos 2019/beach.jpg
  A copy is shown as <destination>:<path at the destination>.
  --history lists every content the path held, oldest first (a hash always lists every row).`;

type Target = { kind: 'content'; blake3: Buffer } | { kind: 'path'; volume: string; path: string };

function volumePath(ctx: CommandContext, volume: string, raw: string): Target {
  ctx.volume(volume);
  const normalized = path.posix.normalize(raw).replace(/^\.\//, '').replace(/\/+$/, '');
  const problem = unsafeRelativePath(normalized === '.' ? '' : normalized);
  if (problem) throw new UsageError(`path '${raw}' ${problem}; give a path relative to the volume root, e.g. ${volume}:dir/file.jpg`);
  return { kind: 'path', volume, path: normalized };
}

function parseTarget(ctx: CommandContext, arg: string, volume: string | undefined): Target {
  if (volume !== undefined) return volumePath(ctx, volume, arg);
  const blake3 = parseBlake3Hex(arg);
  if (blake3) return { kind: 'content', blake3 };
  const colon = arg.indexOf(':');
  if (colon > 0 && ctx.config().volumes.has(arg.slice(0, colon))) return volumePath(ctx, arg.slice(0, colon), arg.slice(colon + 1));
  const volumes = [...ctx.config().volumes.keys()];
  // With one volume there is nothing to choose: a bare path is in it.
  if (volumes.length === 1) return volumePath(ctx, volumes[0], arg);
  throw new UsageError(
    `'${arg}' is neither a BLAKE3 hash (64 hex digits) nor <volume>:<path>; ` +
      `name the volume, e.g. \`squirrel query ${volumes[0] ?? 'photos'}:${arg}\` or \`squirrel query --volume ${volumes[0] ?? 'photos'} ${arg}\``,
  );
}

function fileLine(f: FileSummary): string {
  return `${f.volume}:${f.path}  ${f.status}  first seen run ${f.firstSeenRunId}, last seen run ${f.lastSeenRunId}, ${f.status} since run ${f.statusChangedRunId}`;
}

function contentLines(r: ContentQueryResult): string[] {
  if (!r.content) return ['not in the index'];
  const c = r.content;
  const out = [`content ${c.blake3}  ${c.sizeBytes} bytes  origin ${c.originNode} run ${c.originRunId}`, 'files:'];
  out.push(...(r.files.length ? r.files.map((f) => `  ${fileLine(f)}`) : ['  (none)']));
  out.push('copies:');
  out.push(
    ...(r.copies.length
      ? r.copies.map(
          (k) => `  ${k.destination}:${k.path}  ${k.state}  pushed run ${k.pushedRunId}, ${k.verifiedAtNs === null ? 'never verified' : `verified ${isoFromNs(k.verifiedAtNs)}`}`,
        )
      : ['  (none recorded)']),
  );
  return out;
}

function pathLines(r: PathQueryResult): string[] {
  const out: string[] = [];
  const row = r.current;
  if (row) {
    out.push(fileLine(row));
    out.push(`  content ${row.blake3}  ${row.sizeBytes} bytes  origin ${row.originNode} run ${row.originRunId}  mtime ${isoFromNs(row.mtimeNs)}`);
  } else {
    out.push(`${r.volume}:${r.path}  ${r.found ? 'no live row (only superseded history)' : 'not in the index'}`);
  }
  if (r.history) {
    out.push('history (oldest first):');
    out.push(...(r.history.length ? r.history.map((h) => `  ${h.status.padEnd(10)} ${h.blake3}  ${h.sizeBytes} bytes  runs ${h.firstSeenRunId}..${h.lastSeenRunId}, ${h.status} since run ${h.statusChangedRunId}`) : ['  (none)']));
  }
  return out;
}

export const queryCommand = defineCommand({
  name: 'query',
  description: 'look a content (by hash) or a path up in the index',
  args: { hashOrPath: arg.required('hash-or-path', 'a BLAKE3 hash, <volume>:<path>, a path with --volume, or a bare path when only one volume is configured') },
  options: {
    volume: option.value('--volume <name>', 'the volume the path belongs to'),
    history: option.flag('--history', 'for a path: every content it held'),
  },
  help: HELP,
  exitCodes: { also: { [EXIT_OPERATIONAL]: 'when the hash or path is not in the index' } },
  action: (ctx, { hashOrPath, volume, history }) => {
    const target = parseTarget(ctx, hashOrPath, volume);
    const store = ctx.store({ create: false });
    const result = target.kind === 'content' ? queryContent(store, target.blake3) : queryPath(store, target.volume, target.path, history);
    ctx.emit(result, () => (result.kind === 'content' ? contentLines(result) : pathLines(result)));
    return result.found ? EXIT_OK : EXIT_OPERATIONAL;
  },
});
