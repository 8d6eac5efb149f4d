// Names that try to forge output (issue 19, item 8), through the real binary: text output shows
// a newline, an escape sequence or a bidirectional override in a file name escaped, so one
// name can never fake a report line or drive the terminal; --json keeps the name exact.

import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, json, makeSandbox, OffloadReport, withConfig } from '../helpers.js';
import { NOW, setup } from '../scenarios.js';

afterEach(cleanupTempDirs);

const FORGED = 'evil\noffloaded=0 not_durable=0 drift=0 errors=0 run=1\n.jpg';
const ESCAPE = 'red\u001b[31m\u202ename.jpg';

describe('text output escapes control characters in names', () => {
  it('offload --per-file, query, ls and restore print them escaped; --json exact', async () => {
    // setup
    const sb = makeSandbox({ [FORGED]: 'one', [ESCAPE]: 'two', 'plain.jpg': 'three' });
    const run = (...args: string[]) => bin(withConfig(sb, '--no-progress', ...args), { nowNs: NOW });
    await setup(sb, ['index', 'photos']);
    await setup(sb, ['sync', 'photos', '--to', 'nas', '--init']);
    // act
    const outputs = [
      run('offload', 'photos', '.', '--per-file', '--dry-run'),
      run('query', `photos:${FORGED}`),
      run('ls', 'photos'),
      run('restore', 'photos', FORGED, '--dry-run'),
    ];
    const document = json<OffloadReport>(run('--json', 'offload', 'photos', '.', '--per-file', '--dry-run'));
    // expect
    for (const result of outputs) {
      expect(result.stderr).not.toMatch(/internal error/);
      const text = result.stdout + result.stderr;
      expect(text).not.toContain('\u001b');
      expect(text).not.toContain('\u202e');
      expect(text).not.toMatch(/^offloaded=0 not_durable=0 drift=0 errors=0 run=1$/m);
    }
    expect(outputs[0].stdout).toContain('evil\\noffloaded=0 not_durable=0 drift=0 errors=0 run=1\\n.jpg');
    expect(outputs[0].stdout).toContain('red\\x1b[31m\\u{202e}name.jpg');
    expect(JSON.stringify(document)).toContain(JSON.stringify(FORGED).slice(1, -1));
    expect(document.refusals.flatMap((g) => g.paths)).toContain(ESCAPE);
  });
});
