// `squirrel config check`: validate the config and show it resolved, secrets masked. The text
// form uses the config file's own key names so a user can match each line to what they wrote.

import { defineCommand, defineGroup } from '../command.js';
import { Secret } from '../../config/types.js';
import { EXIT_OK, EXIT_USAGE } from '../../errors.js';
import { formatExactDurationMs } from '../../duration.js';

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);
}

function show(value: unknown): string {
  if (value instanceof Secret) return value.toJSON();
  return String(value);
}

const checkCommand = defineCommand({
  name: 'check',
  description: 'validate the config and print it resolved, with secrets masked',
  exitCodes: { shared: [EXIT_OK, EXIT_USAGE] },
  action: (ctx) => {
    const cfg = ctx.config();
    const result = {
      source: cfg.source,
      node: cfg.node,
      db: ctx.dbPath(),
      volumes: Object.fromEntries(cfg.volumes),
      destinations: Object.fromEntries(cfg.destinations),
    };
    ctx.emit(result, () => {
      const lines = [`config ${cfg.source}: ok`, `node: ${cfg.node}`, `db: ${ctx.dbPath()}`, 'volumes:'];
      if (cfg.volumes.size === 0) lines.push('  (none)');
      for (const v of cfg.volumes.values()) {
        lines.push(`  ${v.name}: ${v.path}`);
        lines.push(`    sync_to: ${v.syncTo.join(', ') || '(none: index only)'}`);
        lines.push(`    offload_requires: ${v.offloadRequires ? v.offloadRequires.join(', ') : '(not set: offload refuses)'}`);
        lines.push(`    offload_max_evidence_age: ${v.offloadMaxEvidenceAgeMs === null ? '(no limit)' : formatExactDurationMs(v.offloadMaxEvidenceAgeMs)}`);
      }
      lines.push('destinations:');
      if (cfg.destinations.size === 0) lines.push('  (none)');
      for (const d of cfg.destinations.values()) {
        const { name, type, ...rest } = d;
        lines.push(`  ${name} (${type}):`);
        for (const [key, value] of Object.entries(rest)) {
          if (value !== null && value !== '') lines.push(`    ${snake(key)}: ${show(value)}`);
        }
      }
      return lines;
    });
  },
});

export const configCommand = defineGroup({ name: 'config', description: 'inspect the configuration', commands: [checkCommand] });
