// config.example.yaml is documentation that must keep working: it loads and validates as
// shipped, and so do the commented-out destination types once uncommented.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { DESTINATION_KEYS, TOP_KEYS, VOLUME_KEYS, validateConfig } from '../../src/config/validate.js';
import { REPO_ROOT } from '../helpers.js';

const EXAMPLE = path.join(REPO_ROOT, 'config.example.yaml');
const ctx = { env: {}, homeDir: '/home/ann', hostName: 'laptop', configPath: '/home/ann/.squirrel/config.yaml' };

/** The example with every `#: ` line uncommented (the optional blocks it documents). */
function uncommented(text: string): string {
  return text.replace(/^(\s*)#: ?/gm, '$1');
}

describe('config.example.yaml', () => {
  it('validates as shipped, with two volumes and only local destinations active', () => {
    // act
    const result = validateConfig(parseConfigText(fs.readFileSync(EXAMPLE, 'utf8'), EXAMPLE), ctx);
    // expect
    expect(result.errors).toBeUndefined();
    expect([...result.config!.volumes.keys()]).toEqual(['pictures', 'documents']);
    expect(result.config!.volumes.get('pictures')!.offloadRequires).toEqual(['nas', 'usb']);
    expect(result.config!.volumes.get('documents')!.offloadRequires).toBeNull();
    expect([...result.config!.destinations.values()].every((d) => d.type === 'local')).toBe(true);
  });

  it('validates with its optional s3 and sftp blocks uncommented (given their env secrets)', () => {
    // setup
    const text = uncommented(fs.readFileSync(EXAMPLE, 'utf8'));
    const env = { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret', BOX_PASSWORD: 'pw' };
    // act
    const result = validateConfig(parseConfigText(text, EXAMPLE), { ...ctx, env });
    // expect
    expect(result.errors).toBeUndefined();
    expect(result.config!.destinations.get('offsite')?.type).toBe('s3');
    expect(result.config!.destinations.get('box')?.type).toBe('sftp');
  });

  it('documents every key the validator accepts', () => {
    // setup
    const text = fs.readFileSync(EXAMPLE, 'utf8');
    const keys = new Set([...TOP_KEYS, ...VOLUME_KEYS, ...Object.values(DESTINATION_KEYS).flat()]);
    // expect
    for (const key of keys) expect(text, key).toMatch(new RegExp(`^[#: ]*${key}:`, 'm'));
  });
});
