// createDestination: a local config becomes a working directory destination; types this
// build does not have fail up front with an error that says so.

import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/types.js';
import { createDestination } from '../../src/destinations/registry.js';
import { LocalDestination } from '../../src/destinations/local.js';
import { EXIT_OPERATIONAL, OperationalError } from '../../src/errors.js';

describe('createDestination', () => {
  it('a local config gives a local destination at that path', () => {
    // act
    const destination = createDestination({ name: 'nas', type: 'local', path: '/mnt/nas/squirrel' });

    // expect
    expect(destination).toBeInstanceOf(LocalDestination);
    expect({ name: destination.name, type: destination.type, location: destination.location }).toEqual({ name: 'nas', type: 'local', location: '/mnt/nas/squirrel' });
  });

  it('s3 and sftp are refused as not available in this build, with exit code 1 and no secret in the message', () => {
    // setup
    const s3 = {
      name: 'offsite',
      type: 's3' as const,
      bucket: 'b',
      prefix: '',
      region: null,
      endpoint: null,
      forcePathStyle: false,
      accessKeyId: new Secret('AKIAEXAMPLE', 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: new Secret('very-secret', 'AWS_SECRET_ACCESS_KEY'),
      requestChecksum: 'when_supported' as const,
    };
    const sftp = { name: 'box', type: 'sftp' as const, host: 'h', port: 22, user: 'u', path: '/p', privateKeyFile: null, password: null, hostKey: null, knownHostsFile: null, remoteHash: null };

    // act + expect
    for (const config of [s3, sftp]) {
      let caught: unknown;
      try {
        createDestination(config);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(OperationalError);
      const error = caught as OperationalError;
      expect(error.exitCode).toBe(EXIT_OPERATIONAL);
      expect(error.message).toContain(`type '${config.type}' is not available in this build`);
      expect(error.message).toContain(`'${config.name}'`);
      expect(error.message).not.toContain('very-secret');
    }
  });
});
