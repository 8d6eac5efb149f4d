// `squirrel config check`: validate the config and show it resolved, secrets masked. The text
// form uses the config file's own key names so a user can match each line to what they wrote.

import { Command } from 'commander';
import { EXIT_CODES_HELP, Run } from '../main.js';
import { CommandContext } from '../context.js';
import { Secret } from '../../config/types.js';
import { formatExactDurationMs } from '../../duration.js';

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`);
}

function show(value: unknown): string {
  if (value instanceof Secret) return value.toJSON();
  return String(value);
}

export function registerConfig(program: Command, run: Run): void {
  const config = program.command('config').description('inspect the configuration').addHelpText('after', EXIT_CODES_HELP);
  config
    .command('check')
    .description('validate the config and print it resolved, with secrets masked')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      run((ctx: CommandContext) => {
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
      }),
    );
}
