// `squirrel evidence <volume> [--history]`: the version vector, one component per destination
// and origin node with its provenance, and with --history every applied write, so a user can
// see why the gate trusts (or refuses) a destination.

import { arg, defineCommand, option } from '../command.js';
import { isoFromNs } from '../../clock.js';
import { formatAge } from '../../duration.js';
import { EXIT_OK, EXIT_USAGE } from '../../errors.js';
import { table } from '../render/format.js';
import type { VectorComponent, VectorHistoryRow } from '../../store/types.js';

/** The --json document of evidence; history only with --history. */
export interface EvidenceReport {
  volume: string;
  components: (VectorComponent & { provenance: string })[];
  history?: VectorHistoryRow[];
}

export const evidenceCommand = defineCommand({
  name: 'evidence',
  description: 'show the durability version vector per destination, and with --history every applied change',
  args: { volumeName: arg.required('volume', 'volume') },
  options: { history: option.flag('--history', 'also list every applied write, oldest first') },
  exitCodes: { shared: [EXIT_OK, EXIT_USAGE] },
  action: (ctx, { volumeName, history }) => {
    const volume = ctx.volume(volumeName);
    const store = ctx.store();
    const row = store.volume(volume.name);
    const thisNodeId = ctx.nodeId();
    const components = (row ? store.evidence.components(row.id) : []).map((c) => ({
      ...c,
      provenance: c.sourceNodeId === thisNodeId ? 'locally verified' : `asserted by peer ${c.sourceNodeName}`,
    }));
    const changes = history && row ? store.evidence.history(row.id) : [];
    const report: EvidenceReport = { volume: volume.name, components, history: history ? changes : undefined };
    ctx.emit(report, () => {
      const lines = components.length === 0 ? [`${volume.name}: no evidence yet (run \`squirrel sync ${volume.name}\`)`] : table([
        ['DESTINATION', 'ORIGIN', 'COVERS RUN', 'METHOD', 'VERIFIED', 'UPDATED', 'VERSION', 'PROVENANCE'],
        ...components.map((c) => [
          c.destination,
          c.originNodeName,
          String(c.originRunId),
          c.verifyMethod,
          c.verifiedAtNs === null ? 'unknown' : formatAge(ctx.nowNs - c.verifiedAtNs),
          formatAge(ctx.nowNs - c.updatedAtNs),
          String(c.version),
          c.provenance,
        ]),
      ]);
      if (history) {
        lines.push('', 'history:');
        lines.push(
          ...table([
            ['DESTINATION', 'ORIGIN', 'VERSION', 'CHANGE', 'COVERS RUN', 'METHOD', 'VERIFIED AT', 'UPDATED AT', 'BY RUN'],
            ...changes.map((h) => [
              h.destination,
              store.nodeName(h.originNodeId),
              String(h.version),
              h.change,
              String(h.originRunId),
              h.verifyMethod,
              h.verifiedAtNs === null ? 'unknown' : isoFromNs(h.verifiedAtNs),
              isoFromNs(h.updatedAtNs),
              h.runId === null ? '-' : String(h.runId),
            ]),
          ]),
        );
      }
      return lines;
    });
  },
});
