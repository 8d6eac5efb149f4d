// `squirrel completion bash|zsh|fish` (issue 19, item 11), through the real binary: the script
// comes from the command tree and the config's names. The bash one is loaded into a real bash
// and asked what it completes; zsh and fish scripts are syntax-checked where those shells exist.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/registry.js';
import { bin, cleanupTempDirs, makeSandbox, tempDir, withConfig } from '../helpers.js';

afterEach(cleanupTempDirs);

const hasShell = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

/** What the bash completion offers for a command line whose last word is being typed. */
function bashCompletes(script: string, words: string[]): string[] {
  const file = path.join(tempDir(), 'completion.bash');
  fs.writeFileSync(file, script);
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const result = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _squirrel; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  return result.stdout.split('\n').filter(Boolean);
}

describe('completion', () => {
  it('bash: commands, subcommands, options, volume and destination names', () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    // act
    const result = bin(withConfig(sb, 'completion', 'bash'));
    // expect
    expect(result.code, result.stderr).toBe(0);
    const script = result.stdout;
    expect(bashCompletes(script, ['squirrel', ''])).toEqual(COMMANDS.map((c) => c.name));
    expect(bashCompletes(script, ['squirrel', 'of'])).toEqual(['offload']);
    expect(bashCompletes(script, ['squirrel', 'sync', ''])).toEqual(['photos']);
    expect(bashCompletes(script, ['squirrel', 'sync', 'photos', '--to', ''])).toEqual(['nas', 'offsite']);
    expect(bashCompletes(script, ['squirrel', '--config', sb.configPath, 'verify', '--m'])).toEqual(['--max-duration']);
    expect(bashCompletes(script, ['squirrel', 'offload', 'photos', '--'])).toEqual(expect.arrayContaining(['--dry-run', '--per-file', '--strict', '--older-than', '--quiet']));
    expect(bashCompletes(script, ['squirrel', 'config', ''])).toEqual(['check']);
    expect(bashCompletes(script, ['squirrel', 'restore', 'photos', 'x', '--from', ''])).toEqual(['nas', 'offsite']);
    expect(bashCompletes(script, ['squirrel', 'query', '--volume', ''])).toEqual(['photos']);
    expect(bashCompletes(script, ['squirrel', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
  });

  it('without a config the commands and options still complete; an unknown shell is a usage error', () => {
    // setup
    const dir = tempDir();
    // act
    const script = bin(['--config', path.join(dir, 'none.yaml'), 'completion', 'bash']);
    const unknown = bin(['--config', path.join(dir, 'none.yaml'), 'completion', 'tcsh']);
    // expect
    expect(script.code, script.stderr).toBe(0);
    expect(bashCompletes(script.stdout, ['squirrel', 'st'])).toEqual(['status']);
    expect(bashCompletes(script.stdout, ['squirrel', 'sync', ''])).toEqual([]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown shell 'tcsh'; one of bash, zsh, fish/);
  });

  it.each(['zsh', 'fish'])('%s: a script that names every command and parses', (shell) => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    // act
    const result = bin(withConfig(sb, 'completion', shell));
    // expect
    expect(result.code, result.stderr).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toContain(command.name);
    expect(result.stdout).toContain('photos');
    expect(result.stdout).toContain('offsite');
    if (hasShell(shell)) {
      const file = path.join(tempDir(), `completion.${shell}`);
      fs.writeFileSync(file, result.stdout);
      const parsed = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      expect(parsed.status, parsed.stderr).toBe(0);
      const asked = shell === 'fish' ? `source ${file}; complete -C'squirrel sync photos --to '` : `source ${file}; type _squirrel >/dev/null && echo loaded`;
      const loaded = spawnSync(shell, ['-c', asked], { encoding: 'utf8', env: { ...process.env, HOME: tempDir() } });
      expect(loaded.stdout, loaded.stderr).toMatch(shell === 'fish' ? /^nas\b[\s\S]*^offsite\b/m : /^loaded$/m);
    }
  });
});
