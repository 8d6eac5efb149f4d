// `squirrel status [<volume>] [--check]`: evidence grid, alarms, offload readiness. --check
// turns the traffic light into a monitoring plugin's exit code, for cron.

import { arg, defineCommand, option } from '../command.js';
import { catalogStatus, Light, unlistedVolumes, volumeStatus, VolumeStatus } from '../../core/status.js';
import { formatAge } from '../../duration.js';
import { EXIT_OPERATIONAL, EXIT_USAGE } from '../../errors.js';
import { formatBytes } from '../render/format.js';
import { DatabaseError } from '../../errors.js';
import { pullBefore } from './peers.js';

const CHECK_EXIT: Record<Light, number> = { green: 0, amber: 1, red: 2 };

/** The --json document of status. */
export interface StatusReport {
  light: Light;
  volumes: VolumeStatus[];
  /** Whether the newest catalog published anywhere covers the last change. */
  catalog: { light: Light; reason: string | null };
  /** Volumes with offloaded files that the config no longer lists (amber). */
  unlisted: ReturnType<typeof unlistedVolumes>;
}

export const statusCommand = defineCommand({
  name: 'status',
  description: 'per-target evidence, alarms and offload readiness',
  args: { volumeName: arg.optional('volume', 'one volume (default: all)') },
  options: {
    check: option.flag('--check', 'exit with the monitoring-plugin convention: 0 green, 1 amber (stale or behind), 2 red (alarm, missing root)'),
    offline: option.flag('--offline', "do not first apply trusted peers' attestations from the destinations"),
  },
  exitCodes: {
    meanings: {
      [EXIT_OPERATIONAL]: 'only with --check: amber (evidence stale or behind, never pushed, no current catalog, files restore moved aside)',
      [EXIT_USAGE]: 'usage or configuration error; with --check: red (an alarm, a destination root missing or unreachable, the index missing or damaged, a root that is not the volume)',
    },
    note: 'With --check: 0 green, 1 amber, 2 red (monitoring-plugin convention).',
  },
  action: async (ctx, { volumeName, check, offline }) => {
    const config = ctx.config();
    const volumes = volumeName !== undefined ? [ctx.volume(volumeName)] : [...config.volumes.values()];
    const destinations = new Map([...config.destinations.keys()].map((name) => [name, ctx.destination(name)]));
    const store = ctx.store();
    const damage = store.quickCheck();
    if (damage !== 'ok') {
      const found = damage.split('\n').filter(Boolean).slice(0, 3).join('; ');
      throw new DatabaseError(`the database ${ctx.dbPath()} is damaged (quick_check: ${found}); move it aside and \`squirrel recover --from <destination>\`, or restore it from a backup`, 'database-damaged');
    }
    await pullBefore(ctx, volumes, [...config.destinations.keys()], offline);
    const statuses: VolumeStatus[] = [];
    for (const volume of volumes) statuses.push(await volumeStatus(store, volume, destinations, ctx.nowNs, ctx.nodeId(), config.node));
    const catalog = catalogStatus(store);
    const unlisted = unlistedVolumes(store, [...config.volumes.keys()]);
    const light = [...statuses.map((s) => s.light), catalog.light, ...unlisted.map((): Light => 'amber')].reduce<Light>((acc, l) => (acc === 'red' || l === 'red' ? 'red' : acc === 'amber' || l === 'amber' ? 'amber' : 'green'), 'green');
    const report: StatusReport = { light, volumes: statuses, catalog, unlisted };
    ctx.emit(report, () =>
      statuses
        .flatMap((s) => statusLines(s, ctx.nowNs, config.node))
        .concat(catalog.reason ? [`catalog: ${catalog.light.toUpperCase()} ${catalog.reason}`] : [])
        .concat(
          unlisted.map(
            (u) => `unlisted volume '${u.volume}' (${u.rootPath}): AMBER ${u.offloadedFiles} offloaded file(s) in the index, but the config no longer lists it (renamed or removed?); list it again under volumes: to watch and restore them`,
          ),
        )
        .concat([`overall: ${light.toUpperCase()}`]),
    );
    return check ? CHECK_EXIT[light] : 0;
  },
});

function statusLines(s: VolumeStatus, nowNs: bigint, node: string): string[] {
  const lines = [
    `${s.volume}: ${s.light.toUpperCase()}${s.indexed ? '' : ' (never indexed)'} present=${s.presentFiles} (${formatBytes(s.presentBytes)}) offloaded=${s.offloadedFiles}`,
  ];
  if (s.displaced) lines.push(`  ! ${s.displaced.reason}`);
  if (s.offloadReady && 'error' in s.offloadReady) lines.push(`  offload: cannot plan: ${s.offloadReady.error}`);
  else if (s.offloadReady) lines.push(`  offload ready now: ${s.offloadReady.files} of ${s.offloadReady.of} present file(s), ${formatBytes(s.offloadReady.bytes)}`);
  for (const reason of s.reasons) lines.push(`  ! ${reason}`);
  for (const t of s.targets) {
    lines.push(`  ${t.destination}${t.required ? ' (required for offload)' : ''}: ${t.light.toUpperCase()} root=${t.root} last push=${t.lastPushRunId === null ? 'never' : `run ${t.lastPushRunId}`}`);
    for (const c of t.components) {
      const verified = c.verifiedAtNs === null ? 'verified: unknown' : `verified ${formatAge(nowNs - c.verifiedAtNs)}`;
      const provenance = c.sourceNodeName === node ? 'locally verified' : `asserted by peer ${c.sourceNodeName}`;
      lines.push(`    origin ${c.originNodeName} through run ${c.originRunId} (${c.verifyMethod}, ${verified}, ${provenance}, v${c.version})`);
    }
    for (const reason of t.reasons) lines.push(`    ! ${reason}`);
  }
  return lines;
}
