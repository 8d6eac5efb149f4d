// `squirrel ls <volume> [path] [--offloaded | --present]`: "where is my file?" A folder as the
// index sees it, one line per entry: its state, its size, and per destination whether a
// verified copy is there and how long ago it was last verified; subfolders summarised.

import path from 'node:path';
import { arg, defineCommand, option } from '../command.js';
import { listFolder, Listing, ListedFile, ListedFolder } from '../../core/ls.js';
import { formatDurationNs } from '../../duration.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';
import { unsafeRelativePath } from '../../paths.js';
import { formatBytes, table } from '../render/format.js';

/** The --json document of ls. */
export type LsReport = Listing;

const HELP = `Columns:
  STATE   present, offloaded (only at the destinations), missing (gone locally), or
          excluded (missing because an exclude: pattern matches it)
  <DEST>  for a file: ok 3d (a verified copy is there, last verified 3 days ago; ok ? when
          that time is unknown), lost (its copies there were found missing or corrupt), or -
          (none); for a folder: how many of its files have a verified copy there
Everything comes from the index: run \`squirrel index\` first to see recent changes.`;

const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;

function share(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${Math.round((part * 100) / whole)}%`;
}

function copyCell(file: ListedFile, destination: string, nowNs: bigint): string {
  const copy = file.copies[destination];
  if (copy.state === 'none') return '-';
  if (copy.state === 'lost') return 'lost';
  return copy.verifiedAtNs === null ? 'ok ?' : `ok ${formatDurationNs(nowNs - copy.verifiedAtNs)}`;
}

function folderLine(folder: ListedFolder, destinations: string[]): string[] {
  return [
    'folder',
    formatBytes(folder.bytes),
    ...destinations.map((d) => `${folder.verified[d]}/${folder.files}`),
    `${folder.name}/  (${files(folder.files)}, ${share(folder.offloadedFiles, folder.files)} offloaded)`,
  ];
}

function lines(listing: Listing, nowNs: bigint): string[] {
  const s = listing.summary;
  const where = `${listing.volume}:${listing.path === '' ? '' : listing.path}${listing.entries.length === 1 && listing.entries[0].kind === 'file' && listing.entries[0].path === listing.path ? '' : '/'}`;
  const out = [`${where}  ${files(s.files)}, ${formatBytes(s.bytes)}, ${s.offloadedFiles} offloaded (${share(s.offloadedFiles, s.files)}, ${formatBytes(s.offloadedBytes)})`];
  if (listing.entries.length === 0) return [...out, '  (nothing to list)'];
  const header = ['STATE', 'SIZE', ...listing.destinations.map((d) => d.toUpperCase()), 'NAME'];
  const rows = listing.entries.map((entry) =>
    entry.kind === 'folder'
      ? folderLine(entry, listing.destinations)
      : [entry.state, formatBytes(entry.sizeBytes), ...listing.destinations.map((d) => copyCell(entry, d, nowNs)), entry.name],
  );
  return [...out, ...table([header, ...rows])];
}

export const lsCommand = defineCommand({
  name: 'ls',
  description: 'list a folder as squirrel sees it: each entry present or offloaded, and where its verified copies are',
  args: {
    volumeName: arg.required('volume', 'volume'),
    folder: arg.optional('path', 'a folder (or file) relative to the volume root; default: the root'),
  },
  options: {
    offloaded: option.flag('--offloaded', 'only offloaded files'),
    present: option.flag('--present', 'only present files'),
  },
  help: HELP,
  exitCodes: { also: { [EXIT_OPERATIONAL]: 'when the path is not in the index' } },
  action: (ctx, { volumeName, folder, offloaded, present }) => {
    if (offloaded && present) throw new UsageError('--offloaded and --present exclude each other; give one, or neither for everything');
    const volume = ctx.volume(volumeName);
    const normalized = folder === undefined ? '.' : path.posix.normalize(folder).replace(/^\.\//, '').replace(/\/+$/, '');
    const relative = normalized === '.' ? '' : normalized;
    const problem = relative === '' ? null : unsafeRelativePath(relative);
    if (problem) throw new UsageError(`path '${folder}' ${problem}; give a folder relative to the volume root, e.g. 2019/trip`);
    const listing = listFolder(ctx.store({ create: false }), volume, relative, { only: offloaded ? 'offloaded' : present ? 'present' : null, nowNs: ctx.nowNs });
    const report: LsReport = listing;
    ctx.emit(report, () => (listing.found ? lines(listing, ctx.nowNs) : [`${volume.name}:${relative}  not in the index`]));
    return listing.found ? EXIT_OK : EXIT_OPERATIONAL;
  },
});
