// createDestination: each configured type becomes its destination, built without touching
// the disk or the network (that happens on first use).

import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/types.js';
import { createDestination } from '../../src/destinations/registry.js';
import { LocalDestination } from '../../src/destinations/local/local.js';
import { S3Destination } from '../../src/destinations/s3/s3.js';
import { SftpDestination } from '../../src/destinations/sftp/sftp.js';

describe('createDestination', () => {
  it('a local config gives a local destination at that path', () => {
    // act
    const destination = createDestination({ name: 'nas', type: 'local', path: '/mnt/nas/squirrel' });

    // expect
    expect(destination).toBeInstanceOf(LocalDestination);
    expect({ name: destination.name, type: destination.type, location: destination.location }).toEqual({ name: 'nas', type: 'local', location: '/mnt/nas/squirrel' });
  });

  it('s3 and sftp configs give their network destinations, located without any secret', () => {
    // setup
    const s3 = {
      name: 'offsite',
      type: 's3' as const,
      bucket: 'b',
      prefix: 'photos',
      region: null,
      endpoint: 'https://s3.example.com',
      forcePathStyle: false,
      accessKeyId: new Secret('AKIAEXAMPLE', 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: new Secret('very-secret', 'AWS_SECRET_ACCESS_KEY'),
      requestChecksum: 'when_supported' as const,
    };
    const sftp = {
      name: 'box',
      type: 'sftp' as const,
      host: 'box.example',
      port: 2222,
      user: 'ann',
      path: '/srv/backup',
      privateKeyFile: null,
      password: new Secret('hunter2', 'BOX_PASSWORD'),
      hostKey: null,
      knownHostsFile: null,
      remoteHash: null,
    };

    // act
    const offsite = createDestination(s3);
    const box = createDestination(sftp);

    // expect: built without touching the network
    expect(offsite).toBeInstanceOf(S3Destination);
    expect({ name: offsite.name, type: offsite.type, location: offsite.location }).toEqual({ name: 'offsite', type: 's3', location: 's3://b/photos/ at s3.example.com' });
    expect(box).toBeInstanceOf(SftpDestination);
    expect({ name: box.name, type: box.type, location: box.location }).toEqual({ name: 'box', type: 'sftp', location: 'sftp://ann@box.example:2222/srv/backup' });
    for (const secret of ['AKIAEXAMPLE', 'very-secret', 'hunter2']) expect(JSON.stringify([offsite.location, box.location])).not.toContain(secret);
  });
});
