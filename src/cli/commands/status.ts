// `squirrel status [<volume>] [--check]`: evidence grid, alarms, offload readiness. --check
// turns the traffic light into a monitoring plugin's exit code, for cron.

import { arg, defineCommand, option } from '../command.js';
import { Light, volumeStatus, VolumeStatus } from '../../core/status.js';
import { formatAge } from '../../duration.js';
import { EXIT_OPERATIONAL, EXIT_USAGE } from '../../errors.js';
import { formatBytes } from '../render/format.js';

const CHECK_EXIT: Record<Light, number> = { green: 0, amber: 1, red: 2 };

/** The --json document of status. */
export interface StatusReport {
  light: Light;
  volumes: VolumeStatus[];
}

export const statusCommand = defineCommand({
  name: 'status',
  description: 'per-target evidence, alarms and offload readiness',
  args: { volumeName: arg.optional('volume', 'one volume (default: all)') },
  options: { check: option.flag('--check', 'exit with the monitoring-plugin convention: 0 green, 1 amber (stale or behind), 2 red (alarm, missing root)') },
  exitCodes: {
    meanings: {
      [EXIT_OPERATIONAL]: 'only with --check: amber (evidence stale or behind, never pushed, files restore moved aside)',
      [EXIT_USAGE]: 'usage or configuration error; with --check: red (an alarm, a destination root missing or unreachable)',
    },
    note: 'With --check: 0 green, 1 amber, 2 red (monitoring-plugin convention).',
  },
  action: async (ctx, { volumeName, check }) => {
    const config = ctx.config();
    const volumes = volumeName !== undefined ? [ctx.volume(volumeName)] : [...config.volumes.values()];
    const destinations = new Map([...config.destinations.keys()].map((name) => [name, ctx.destination(name)]));
    const store = ctx.store();
    const statuses: VolumeStatus[] = [];
    for (const volume of volumes) statuses.push(await volumeStatus(store, volume, destinations, ctx.nowNs, ctx.nodeId(), config.node));
    const light = statuses.reduce<Light>((acc, s) => (acc === 'red' || s.light === 'red' ? 'red' : acc === 'amber' || s.light === 'amber' ? 'amber' : 'green'), 'green');
    const report: StatusReport = { light, volumes: statuses };
    ctx.emit(report, () => statuses.flatMap((s) => statusLines(s, ctx.nowNs)).concat([`overall: ${light.toUpperCase()}`]));
    return check ? CHECK_EXIT[light] : 0;
  },
});

function statusLines(s: VolumeStatus, nowNs: bigint): string[] {
  const lines = [
    `${s.volume}: ${s.light.toUpperCase()}${s.indexed ? '' : ' (never indexed)'} present=${s.presentFiles} (${formatBytes(s.presentBytes)}) offloaded=${s.offloadedFiles}`,
  ];
  if (s.displaced) lines.push(`  ! ${s.displaced.reason}`);
  if (s.offloadReady && 'error' in s.offloadReady) lines.push(`  offload: cannot plan: ${s.offloadReady.error}`);
  else if (s.offloadReady) lines.push(`  offload ready now: ${s.offloadReady.files} of ${s.offloadReady.of} present file(s), ${formatBytes(s.offloadReady.bytes)}`);
  for (const t of s.targets) {
    lines.push(`  ${t.destination}${t.required ? ' (required for offload)' : ''}: ${t.light.toUpperCase()} root=${t.root} last push=${t.lastPushRunId === null ? 'never' : `run ${t.lastPushRunId}`}`);
    for (const c of t.components) {
      const verified = c.verifiedAtNs === null ? 'verified: unknown' : `verified ${formatAge(nowNs - c.verifiedAtNs)}`;
      lines.push(`    origin ${c.originNodeName} through run ${c.originRunId} (${c.verifyMethod}, ${verified}, v${c.version})`);
    }
    for (const reason of t.reasons) lines.push(`    ! ${reason}`);
  }
  return lines;
}
