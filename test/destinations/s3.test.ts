// The s3 destination against a real S3-compatible server (s3rver) on loopback: the
// conformance suite under a key prefix, then what only S3 has: keys as they land in the
// bucket, multipart uploads, moveAside as copy-then-delete, services that reject the SDK's
// extra checksums, credentials that are refused (without leaking), and a service that
// answers errors or goes away.

import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3DestinationConfig, Secret } from '../../src/config/types.js';
import { DESTINATION_MARKER, DestinationUnavailableError } from '../../src/destinations/destination.js';
import { S3Options } from '../../src/destinations/s3/client.js';
import { S3Destination } from '../../src/destinations/s3/s3.js';
import { hashBytes } from '../../src/hash.js';
import { cleanupTempDirs } from '../helpers.js';
import { ConformanceHarness, historyFor, listAll, localFile, pseudoRandomBytes, putBytes, readAll, runConformance, stagingFor } from './conformance.js';
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3Server, TcpProxy, objectBytes, startS3Server } from './servers.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let server: S3Server;
let raw: S3Client;
let buckets = 0;
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startS3Server();
  raw = rawClient(server.endpoint);
}, 30_000);

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.cut()));
});

afterAll(async () => {
  raw?.destroy();
  await server?.dispose();
  cleanupTempDirs();
});

/** A plain SDK client, to look at and tamper with the bucket behind squirrel's back. */
function rawClient(endpoint: string): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY }, maxAttempts: 1 });
}

/** Quick to give up, and small multipart thresholds so multipart runs on small files. */
const FAST: Partial<S3Options> = { maxAttempts: 2, connectTimeoutMs: 2_000, requestTimeoutMs: 10_000, multipartThresholdBytes: 5 * 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 };

function s3Config(name: string, bucket: string, overrides: Partial<S3DestinationConfig> = {}): S3DestinationConfig {
  return {
    name,
    type: 's3',
    bucket,
    prefix: 'backups/squirrel',
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    accessKeyId: new Secret(S3_ACCESS_KEY_ID, 'S3_KEY'),
    secretAccessKey: new Secret(S3_SECRET_ACCESS_KEY, 'S3_SECRET'),
    requestChecksum: 'when_supported',
    ...overrides,
  };
}

function freshBucket(): string {
  return `squirrel-t${++buckets}`;
}

async function objectKeys(bucket: string): Promise<string[]> {
  const listed = await raw.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((object) => object.Key!).sort();
}

function httpResponse(status: number, reason: string, code: string): Buffer {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${reason}</Message></Error>`;
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

interface S3Harness extends ConformanceHarness {
  bucket: string;
  proxy: TcpProxy;
}

async function makeS3(name: string): Promise<S3Harness> {
  // Every harness talks through its own proxy, so a test can cut its network alone.
  const proxy = await new TcpProxy(server.port).start();
  proxies.push(proxy);
  const bucket = freshBucket();
  const through = (destinationName: string) => new S3Destination(s3Config(destinationName, bucket, { endpoint: `http://127.0.0.1:${proxy.port}` }), FAST);
  return {
    bucket,
    proxy,
    destination: through(name),
    sameRoot: (other) => through(other),
    createUnmarkedRoot: async () => void (await raw.send(new CreateBucketCommand({ Bucket: bucket }))),
  };
}

runConformance('s3', {
  make: makeS3,
  unreachableWays: {
    'the network is cut (connections reset, then refused)': ({ proxy }) => proxy.cut(),
    'the service answers 503 Slow Down to everything': ({ proxy }) => proxy.answerWith(httpResponse(503, 'Slow Down', 'SlowDown')),
  },
});

describe('s3 destination: in the bucket', () => {
  it('keys mirror the destination paths under the prefix; init creates a missing bucket', async () => {
    // setup
    const bucket = freshBucket();
    const destination = new S3Destination(s3Config('cloud', bucket), FAST);

    // act
    await destination.init();
    await putBytes(destination, 'vol/sub/photo.jpg', Buffer.from('jpeg bytes'));

    // expect
    expect(await objectKeys(bucket)).toEqual([`backups/squirrel/${DESTINATION_MARKER}`, 'backups/squirrel/vol/sub/photo.jpg']);
    expect(JSON.parse((await objectBytes(raw, bucket, `backups/squirrel/${DESTINATION_MARKER}`)).toString())).toEqual({ squirrel: 2, name: 'cloud', id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect((await objectBytes(raw, bucket, 'backups/squirrel/vol/sub/photo.jpg')).toString()).toBe('jpeg bytes');
  });

  it('without a prefix the marker sits at the top of the bucket, and other prefixes are not ours', async () => {
    // setup
    const bucket = freshBucket();
    const destination = new S3Destination(s3Config('cloud', bucket, { prefix: '' }), FAST);
    await destination.init();
    await putBytes(destination, 'vol/a.txt', Buffer.from('a'));

    // act
    const underPrefix = new S3Destination(s3Config('cloud', bucket, { prefix: 'vol' }), FAST);

    // expect
    expect(await objectKeys(bucket)).toEqual([DESTINATION_MARKER, 'vol/a.txt']);
    expect(await underPrefix.rootState()).toBe('unmarked');
  });

  it('a large file goes up in parts and reads back whole; no upload is left open', async () => {
    // setup
    const bucket = freshBucket();
    const destination = new S3Destination(s3Config('cloud', bucket), FAST);
    await destination.init();
    const bytes = pseudoRandomBytes(12 * 1024 * 1024 + 77, 5);

    // act
    await putBytes(destination, 'vol/video.mov', bytes);

    // expect
    expect((await objectBytes(raw, bucket, 'backups/squirrel/vol/video.mov')).equals(bytes)).toBe(true);
    expect(await destination.hash('vol/video.mov')).toMatchObject({ kind: 'present', blake3: hashBytes(bytes), sizeBytes: bytes.length, method: 'blake3-readback' });
    expect((await readAll(destination, 'vol/video.mov')).bytes.equals(bytes)).toBe(true);
  });

  it('moveAside copies into the history prefix and only then removes the original', async () => {
    // setup
    const bucket = freshBucket();
    const destination = new S3Destination(s3Config('cloud', bucket), FAST);
    await destination.init();
    await putBytes(destination, 'vol/notes.txt', Buffer.from('version 1'));

    // act
    await destination.moveAside('vol/notes.txt', historyFor('vol/notes.txt', 4));
    await putBytes(destination, 'vol/notes.txt', Buffer.from('version 2'));

    // expect
    expect((await objectBytes(raw, bucket, `backups/squirrel/${historyFor('vol/notes.txt', 4)}`)).toString()).toBe('version 1');
    expect((await objectBytes(raw, bucket, 'backups/squirrel/vol/notes.txt')).toString()).toBe('version 2');
  });

  it('hash reads the object back every time: an object replaced behind squirrel shows', async () => {
    // setup
    const bucket = freshBucket();
    const destination = new S3Destination(s3Config('cloud', bucket), FAST);
    await destination.init();
    await putBytes(destination, 'vol/a.bin', Buffer.from('abcdef'));

    // act
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/squirrel/vol/a.bin', Body: Buffer.from('abcdeX') }));
    const altered = await destination.hash('vol/a.bin');
    await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'backups/squirrel/vol/a.bin' }));
    const deleted = await destination.hash('vol/a.bin');

    // expect
    expect(altered).toMatchObject({ kind: 'present', blake3: hashBytes(Buffer.from('abcdeX')), sizeBytes: 6 });
    expect(deleted).toEqual({ kind: 'absent' });
  });

  it('folder placeholder keys (as consoles create them) are not listed as files', async () => {
    // setup
    const bucket = freshBucket();
    const destination = new S3Destination(s3Config('cloud', bucket), FAST);
    await destination.init();
    await putBytes(destination, 'vol/a.txt', Buffer.from('a'));
    for (const key of ['backups/squirrel/vol/folder/']) await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('x') }));

    // act + expect
    expect((await listAll(destination, 'vol')).map((file) => file.path)).toEqual(['vol/a.txt']);
  });
});

describe('s3 destination: requests a put makes', () => {
  /** An HTTP proxy in front of the server that notes each request's method and whether it lists. */
  async function countingProxy(): Promise<{ endpoint: string; seen: string[]; close: () => Promise<void> }> {
    const target = new URL(server.endpoint);
    const seen: string[] = [];
    const proxy = http.createServer((request, response) => {
      seen.push(`${request.method} ${request.url?.includes('list-type=2') ? 'list' : 'key'}`);
      const upstream = http.request({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as { port: number };
    return { endpoint: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => proxy.close(() => resolve())) };
  }

  it('a put told the listing shows its path clear is the PUT alone; otherwise HEAD and LIST go first', async () => {
    // setup
    const proxy = await countingProxy();
    try {
      const destination = new S3Destination(s3Config('cloud', freshBucket(), { endpoint: proxy.endpoint }), FAST);
      await destination.init();
      await putBytes(destination, 'vol/first.txt', Buffer.from('a'));

      // act
      proxy.seen.length = 0;
      await putBytes(destination, 'vol/checked.txt', Buffer.from('b'));
      const checked = [...proxy.seen];
      proxy.seen.length = 0;
      await destination.put('vol/clear.txt', localFile(Buffer.from('c')), stagingFor('vol/clear.txt'), undefined, { listedClear: true });
      const clear = [...proxy.seen];

      // expect
      expect(checked.sort()).toEqual(['GET list', 'HEAD key', 'PUT key']);
      expect(clear).toEqual(['PUT key']);
      expect((await listAll(destination, 'vol')).map((file) => file.path)).toEqual(['vol/checked.txt', 'vol/clear.txt', 'vol/first.txt']);
    } finally {
      await proxy.close();
    }
  });
});

describe('s3 destination: failures', () => {
  afterEach(() => cleanupTempDirs());

  it('a refused access key is "could not check", says to check the credentials, and never shows the secret', async () => {
    // setup
    const bucket = freshBucket();
    await new S3Destination(s3Config('cloud', bucket), FAST).init();
    const secret = 'very-secret-value-do-not-print';
    const destination = new S3Destination(s3Config('cloud', bucket, { accessKeyId: new Secret('AKIAWRONG', 'S3_KEY'), secretAccessKey: new Secret(secret, 'S3_SECRET') }), FAST);

    // act
    const errors = await Promise.all([destination.rootState(), destination.stat('vol/a.txt'), destination.hash('vol/a.txt')].map((call) => call.then(() => null, (err: unknown) => err as Error)));

    // expect
    for (const error of errors) {
      expect(error).toBeInstanceOf(DestinationUnavailableError);
      expect(error!.message).toMatch(/access denied \((InvalidAccessKeyId, )?HTTP 403\): check access_key_id and secret_access_key/);
      expect(error!.message).not.toContain(secret);
    }
  });

  it('a bucket that does not exist refuses writes and "absent" answers, naming the bucket', async () => {
    // setup
    const destination = new S3Destination(s3Config('cloud', 'no-such-bucket-here'), FAST);

    // act + expect
    expect(await destination.rootState()).toBe('missing');
    await expect(destination.stat('vol/a.txt')).rejects.toThrow(/bucket 'no-such-bucket-here' does not exist/);
    await expect(putBytes(destination, 'vol/a.txt', Buffer.from('a'))).rejects.toThrow(/bucket 'no-such-bucket-here' does not exist/);
  });

  it('an unreachable endpoint is "could not check", naming host and operation', async () => {
    // setup
    const proxy = await new TcpProxy(server.port).start();
    const destination = new S3Destination(s3Config('cloud', freshBucket(), { endpoint: `http://127.0.0.1:${proxy.port}` }), FAST);
    await proxy.cut();

    // act + expect
    await expect(destination.stat('vol/a.txt')).rejects.toThrow(new RegExp(`destination 'cloud': stat failed: .* at 127\\.0\\.0\\.1:${proxy.port}: cannot reach 127\\.0\\.0\\.1:${proxy.port}: .*ECONNREFUSED`));
  });

  describe('a service that rejects the SDK\'s extra checksum headers', () => {
    let strict: http.Server;
    let strictEndpoint: string;

    beforeAll(async () => {
      // Forwards to s3rver, but answers 400 to any request carrying a flexible checksum.
      strict = http.createServer((request, response) => {
        if (Object.keys(request.headers).some((header) => header.startsWith('x-amz-checksum-') || header === 'x-amz-sdk-checksum-algorithm')) {
          request.resume();
          response.writeHead(400, { 'content-type': 'application/xml' });
          response.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>checksum headers are not supported</Message></Error>');
          return;
        }
        const upstream = http.request({ host: '127.0.0.1', port: server.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        });
        upstream.on('error', () => response.destroy());
        request.pipe(upstream);
      });
      await new Promise<void>((resolve) => strict.listen(0, '127.0.0.1', () => resolve()));
      strictEndpoint = `http://127.0.0.1:${(strict.address() as { port: number }).port}`;
    });

    afterAll(async () => {
      strict.closeAllConnections();
      await new Promise<void>((resolve) => strict.close(() => resolve()));
    });

    it('fails with the default, with a hint naming request_checksum: when_required', async () => {
      // setup
      const destination = new S3Destination(s3Config('cloud', freshBucket(), { endpoint: strictEndpoint }), FAST);
      await destination.init().catch(() => undefined);

      // act + expect
      await expect(putBytes(destination, 'vol/a.txt', Buffer.from('a'))).rejects.toThrow(/HTTP 400.*set request_checksum: when_required/);
    });

    it('works with request_checksum: when_required, multipart included', async () => {
      // setup
      const bucket = freshBucket();
      const destination = new S3Destination(s3Config('cloud', bucket, { endpoint: strictEndpoint, requestChecksum: 'when_required' }), FAST);
      const bytes = pseudoRandomBytes(11 * 1024 * 1024, 8);

      // act
      await destination.init();
      await putBytes(destination, 'vol/small.txt', Buffer.from('small'));
      await putBytes(destination, 'vol/large.bin', bytes);
      await destination.moveAside('vol/small.txt', historyFor('vol/small.txt'));

      // expect
      expect(await destination.hash('vol/large.bin')).toMatchObject({ blake3: hashBytes(bytes) });
      expect((await objectBytes(raw, bucket, `backups/squirrel/${historyFor('vol/small.txt')}`)).toString()).toBe('small');
    });
  });
});
