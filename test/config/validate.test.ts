// validateConfig is pure: raw YAML data in, a typed config or every problem out. These cases
// pin what a valid config resolves to; the table of bad configs is in bad-configs.test.ts.

import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/types.js';
import { didYouMean } from '../../src/config/checker.js';
import { ValidateContext, defaultNodeName, validateConfig } from '../../src/config/validate.js';

const ctx: ValidateContext = {
  env: { NAS_PASSWORD: 'hunter2-not-shown', S3_KEY: 'AKIA-not-shown', S3_SECRET: 'shh-not-shown' },
  homeDir: '/home/ann',
  hostName: 'Ann-Laptop.local',
  configPath: '/home/ann/.squirrel/config.yaml',
};

function valid(raw: unknown) {
  const result = validateConfig(raw, ctx);
  if (result.errors) throw new Error(`expected a valid config, got:\n${result.errors.join('\n')}`);
  return result.config;
}

function errorsOf(raw: unknown): string[] {
  const result = validateConfig(raw, ctx);
  if (!result.errors) throw new Error('expected errors, the config validated');
  return result.errors;
}

describe('a valid config resolves', () => {
  it('defaults the node to the host name and the database to index.db next to the config', () => {
    // act
    const config = valid({});
    // expect
    expect(config.node).toBe('ann-laptop');
    expect(config.db).toBe('/home/ann/.squirrel/index.db');
    expect(config.volumes.size).toBe(0);
    expect(config.destinations.size).toBe(0);
  });

  it('an empty file (null document) is an empty config', () => {
    expect(valid(null).volumes.size).toBe(0);
  });

  it('expands ~ and normalises paths', () => {
    // act
    const config = valid({
      db: '~/data/../index.db',
      volumes: { pictures: { path: '~/Pictures/', sync_to: ['nas'] }, home: { path: '/srv/music', sync_to: [] } },
      destinations: { nas: { type: 'local', path: '/mnt/nas//squirrel/' } },
    });
    // expect
    expect(config.db).toBe('/home/ann/index.db');
    expect(config.volumes.get('pictures')!.path).toBe('/home/ann/Pictures');
    expect(config.destinations.get('nas')).toEqual({ name: 'nas', type: 'local', path: '/mnt/nas/squirrel' });
  });

  it('reads the offload policy: absent offload_requires means null (offload refuses), durations in ms', () => {
    // act
    const config = valid({
      volumes: {
        pictures: { path: '/p', sync_to: ['nas', 'usb'], offload_requires: ['usb', 'nas'], offload_max_evidence_age: '30d' },
        documents: { path: '/d', sync_to: ['nas'] },
      },
      destinations: { nas: { type: 'local', path: '/mnt/nas' }, usb: { type: 'local', path: '/media/usb' } },
    });
    // expect
    expect(config.volumes.get('pictures')).toEqual({
      name: 'pictures',
      path: '/p',
      syncTo: ['nas', 'usb'],
      offloadRequires: ['usb', 'nas'],
      offloadMaxEvidenceAgeMs: 30 * 86_400_000,
      namespaces: new Map([
        ['nas', 'pictures'],
        ['usb', 'pictures'],
      ]),
      exclude: [],
    });
    expect(config.volumes.get('documents')!.offloadRequires).toBeNull();
    expect(config.volumes.get('documents')!.offloadMaxEvidenceAgeMs).toBeNull();
  });

  it('resolves { env: VAR } secrets into values that never print', () => {
    // act
    const config = valid({
      destinations: {
        cloud: { type: 's3', bucket: 'b', prefix: '/photos/', access_key_id: { env: 'S3_KEY' }, secret_access_key: { env: 'S3_SECRET' } },
        box: { type: 'sftp', host: 'box.example', user: 'ann', path: '/backup', password: { env: 'NAS_PASSWORD' }, private_key_file: '~/.ssh/id_ed25519' },
      },
    });
    const cloud = config.destinations.get('cloud')!;
    const box = config.destinations.get('box')!;
    // expect
    if (cloud.type !== 's3' || box.type !== 'sftp') throw new Error('wrong types');
    expect(cloud.prefix).toBe('photos');
    expect(cloud.secretAccessKey!.reveal()).toBe('shh-not-shown');
    expect(box.port).toBe(22);
    expect(box.privateKeyFile).toBe('/home/ann/.ssh/id_ed25519');
    const renderings = [JSON.stringify(Object.fromEntries(config.destinations)), inspect(config, { depth: 10 }), String(cloud.secretAccessKey), `${box.password}`];
    for (const text of renderings) {
      expect(text).not.toContain('shh-not-shown');
      expect(text).not.toContain('AKIA-not-shown');
      expect(text).not.toContain('hunter2-not-shown');
    }
    expect(JSON.stringify(cloud)).toContain('(from env S3_SECRET)');
  });
});

describe('problems are all reported, each with its key path', () => {
  it('reports every bad key in one pass, not just the first', () => {
    // act
    const errors = errorsOf({
      nod: 'x',
      volumes: { Pics: { path: 'rel', sync_to: ['nas', 'nas', 'ghost'], offload_max_evidence_age: 30 } },
      destinations: { nas: { type: 'local', path: '/mnt/nas' } },
    });
    // expect
    expect(errors.map((e) => e.slice(0, e.indexOf(': ')))).toEqual([
      'nod',
      'volumes.Pics',
      'volumes.Pics.path',
      'volumes.Pics.sync_to[1]',
      'volumes.Pics.sync_to[2]',
      'volumes.Pics.offload_max_evidence_age',
    ]);
  });

  it('never echoes an inline secret', () => {
    // act
    const errors = errorsOf({ destinations: { cloud: { type: 's3', bucket: 'b', access_key_id: 'AKIAINLINE', secret_access_key: 'inline-secret-value' } } });
    // expect
    expect(errors.join('\n')).not.toContain('inline-secret-value');
    expect(errors.join('\n')).not.toContain('AKIAINLINE');
    expect(errors).toContain('destinations.cloud.secret_access_key: secrets are given as { env: VARIABLE_NAME }, never inline');
  });
});

describe('durations', () => {
  // The syntax itself is tested in test/duration.test.ts; here: YAML values that are no text.
  it.each([true, null, ['30d']])('rejects %j as offload_max_evidence_age', (value) => {
    const errors = errorsOf({
      destinations: { nas: { type: 'local', path: '/mnt/nas' } },
      volumes: { pictures: { path: '~/Pictures', sync_to: ['nas'], offload_requires: ['nas'], offload_max_evidence_age: value } },
    });
    expect(errors).toEqual([expect.stringMatching(/^volumes\.pictures\.offload_max_evidence_age: expected a duration, got /)]);
  });
});

describe('suggestions and names', () => {
  it('suggests the nearest known key only when it is close', () => {
    expect(didYouMean('sync-to', ['path', 'sync_to'])).toBe(" (did you mean 'sync_to'?)");
    expect(didYouMean('Volumes', ['node', 'volumes'])).toBe(" (did you mean 'volumes'?)");
    expect(didYouMean('colour', ['path', 'sync_to'])).toBe('');
  });

  it('derives a valid node name from any host name', () => {
    expect(defaultNodeName('Ann-Laptop.local')).toBe('ann-laptop');
    expect(defaultNodeName('_weird host!')).toBe('weird-host-');
    expect(defaultNodeName('...')).toBe('node');
  });

  it('keeps Secret opaque even to util.inspect', () => {
    expect(inspect(new Secret('value', 'VAR'))).toBe('******** (from env VAR)');
  });
});
