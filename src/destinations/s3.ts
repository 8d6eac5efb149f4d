// `type: s3`: a bucket (and key prefix) on AWS S3 or an S3-compatible service. An object's key
// mirrors its destination path under the prefix. S3 has no rename and never shows a partial
// object, so put uploads straight to the key (multipart for large files), conditional on the
// key being free where the service supports it; the staging path is only checked. Overwrites
// never happen here: moveAside copies the old object into history and removes it only once the
// copy is there. Read-back is a GET hashed with BLAKE3; an ETag is never taken as proof. The
// "directory" rules of a filesystem are kept (no object below an object, none where objects
// live below), so every destination type holds the same tree.

import fs from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3DestinationConfig } from '../config/types.js';
import { errorDetail } from '../errors.js';
import { StreamingBlake3, READ_CHUNK_BYTES } from '../hash.js';
import { LocalSource, openLocalSource } from './local-source.js';
import {
  DESTINATION_MARKER,
  Destination,
  DestinationUnavailableError,
  HashResult,
  ListedFile,
  LocalSourceError,
  METHOD_READBACK,
  RootState,
  StatResult,
  checkDestinationPath,
  checkStagingPath,
  unsafeDestinationPath,
  SourceExpectation,
} from './destination.js';
import { checkMarker, encodeMarker } from './markers.js';

type S3Module = typeof import('@aws-sdk/client-s3');

export interface S3Options {
  /** Attempts per request, with the SDK's backoff between them; transient failures only. */
  maxAttempts: number;
  connectTimeoutMs: number;
  /** Longest silence on an open request before it counts as failed. */
  requestTimeoutMs: number;
  /** Files above this size go up as multipart uploads. */
  multipartThresholdBytes: number;
  /** Part size (grown if a file would need more than 10,000 parts). */
  partSizeBytes: number;
  /** Parts of one file uploaded at once. */
  partConcurrency: number;
  /**
   * Bodies and parts held in memory at once, across every put in flight: memory stays below
   * this many times the larger of multipartThresholdBytes and partSizeBytes.
   */
  bufferSlots: number;
}

export const DEFAULT_S3_OPTIONS: S3Options = {
  maxAttempts: 4,
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  multipartThresholdBytes: 32 * 1024 * 1024,
  partSizeBytes: 16 * 1024 * 1024,
  partConcurrency: 4,
  bufferSlots: 4,
};

/** Puts a caller may keep in flight: requests are latency-bound, so a few overlap well. */
const CONCURRENT_PUTS = 4;

/** S3's limits: parts per upload, and the largest object CopyObject copies in one request. */
const MAX_PARTS = 10_000;
const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
const COPY_PART_BYTES = 512 * 1024 ** 2;
const MARKER_MAX_BYTES = 64 * 1024;

/** Errors that mean the credentials or permissions are wrong: retrying will not help. */
const AUTH_ERRORS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled', 'AccountProblem']);
/** How services that do not take the SDK's flexible checksums answer an upload carrying them. */
const CHECKSUM_SUSPECTS = new Set(['InvalidArgument', 'InvalidRequest', 'NotImplemented', 'BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch', 'Unknown', 'UnknownError']);
/** Failures while a response body streams in; the request is started again. */
const TRANSIENT_STREAM_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function sdkError(err: unknown): SdkError {
  return (err ?? {}) as SdkError;
}

function isNotFound(err: unknown): boolean {
  const e = sdkError(err);
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

interface Sdk {
  s3: S3Module;
  client: S3Client;
}

/** A counting semaphore: at most `count` holders at once, the rest wait in order. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async use<T>(body: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await body();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export class S3Destination implements Destination {
  readonly type = 's3';
  readonly concurrentPuts = CONCURRENT_PUTS;
  readonly name: string;
  readonly location: string;
  /** The service, for messages: the endpoint's host, or AWS. */
  private readonly where: string;
  /** '' or 'prefix/': every key starts with it. */
  private readonly keyPrefix: string;
  private readonly options: S3Options;
  private sdk: Promise<Sdk> | null = null;
  /** The marker was read and named us; the place behind a bucket name does not change mid-run. */
  private markerConfirmed = false;
  /** Cleared when the service rejects If-None-Match on writes; the HEAD check still runs. */
  private conditionalWrites = true;
  /** Key prefixes known to be "directories" (no object at that key) in this run. */
  private readonly knownDirectories = new Set<string>();
  /** Upload bytes buffered in memory, bounded across concurrent puts. */
  private readonly buffers: Slots;

  constructor(
    private readonly config: S3DestinationConfig,
    options: Partial<S3Options> = {},
  ) {
    this.name = config.name;
    this.options = { ...DEFAULT_S3_OPTIONS, ...options };
    this.buffers = new Slots(Math.max(1, this.options.bufferSlots));
    this.keyPrefix = config.prefix === '' ? '' : `${config.prefix}/`;
    let where = `AWS S3${config.region ? ` (${config.region})` : ''}`;
    if (config.endpoint !== null) {
      const url = new URL(config.endpoint);
      where = url.host;
    }
    this.where = where;
    this.location = `s3://${config.bucket}/${this.keyPrefix}${config.endpoint !== null ? ` at ${this.where}` : ''}`;
  }

  async rootState(): Promise<RootState> {
    return this.rootStateFor('rootState');
  }

  async init(): Promise<void> {
    const state = await this.rootStateFor('init');
    if (state === 'ok') return;
    const { s3, client } = await this.client();
    if (state === 'missing') {
      const region = this.config.region;
      try {
        await client.send(
          new s3.CreateBucketCommand({
            Bucket: this.config.bucket,
            ...(region && region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
          }),
        );
      } catch (err) {
        if (sdkError(err).name !== 'BucketAlreadyOwnedByYou') throw this.unavailable('init', `create bucket '${this.config.bucket}'`, err);
      }
    }
    const marker = encodeMarker(this.name);
    const placed = await this.putIfAbsent('init', DESTINATION_MARKER, this.keyOf('init', DESTINATION_MARKER), marker);
    if (!placed) {
      // Another process marked the root first; it must have named us.
      if ((await this.rootStateFor('init')) !== 'ok') throw new DestinationUnavailableError(this.name, 'init', `${this.location}: the marker vanished while being written; run init again`);
    }
    this.markerConfirmed = true;
  }

  list(prefix: string): AsyncIterable<ListedFile> {
    const start = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    checkDestinationPath(this.name, 'list', start, true);
    return this.listFrom(start);
  }

  async stat(relativePath: string): Promise<StatResult> {
    const key = this.keyOf('stat', relativePath);
    const head = await this.head('stat', relativePath, key);
    if (head !== null) return { kind: 'present', sizeBytes: head.sizeBytes };
    return this.absent('stat', relativePath, key);
  }

  read(relativePath: string): AsyncIterable<Uint8Array> {
    const key = this.keyOf('read', relativePath);
    return this.readChunks(relativePath, key);
  }

  async hash(relativePath: string): Promise<HashResult> {
    const key = this.keyOf('hash', relativePath);
    const { s3, client } = await this.client();
    for (let attempt = 1; ; attempt++) {
      let response;
      try {
        response = await client.send(new s3.GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
      } catch (err) {
        if (!isNotFound(err)) throw this.unavailable('hash', relativePath, err);
        return this.absent('hash', relativePath, key);
      }
      const body = response.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
      const hasher = new StreamingBlake3();
      try {
        for await (const chunk of body) hasher.update(chunk);
      } catch (err) {
        body.destroy?.();
        if (attempt < this.options.maxAttempts && TRANSIENT_STREAM_CODES.has(sdkError(err).code ?? '')) continue;
        throw this.unavailable('hash', relativePath, err);
      }
      if (response.ContentLength !== undefined && hasher.sizeBytes !== response.ContentLength) {
        if (attempt < this.options.maxAttempts) continue;
        throw new DestinationUnavailableError(this.name, 'hash', `${relativePath} at ${this.where}: the download stopped after ${hasher.sizeBytes} of ${response.ContentLength} bytes`);
      }
      return { kind: 'present', blake3: hasher.digest(), sizeBytes: hasher.sizeBytes, method: METHOD_READBACK };
    }
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation): Promise<void> {
    const key = this.keyOf('put', relativePath);
    checkStagingPath(this.name, relativePath, stagingPath);
    const source = openLocalSource(localFile, expected);
    try {
      await this.requireMarkedRoot('put');
      await this.requireFree('put', relativePath, key, 'it was left untouched (move it aside first)');
      const placed =
        source.sizeBytes <= this.options.multipartThresholdBytes
          ? await this.buffers.use(() => this.putIfAbsent('put', relativePath, key, readLocal(source, localFile, 0, source.sizeBytes)))
          : await this.putMultipart(relativePath, key, source, localFile);
      if (!placed) throw new DestinationUnavailableError(this.name, 'put', `${relativePath} already exists; it was left untouched (move it aside first)`);
      this.rememberDirectoriesAbove(relativePath);
    } finally {
      fs.closeSync(source.fd);
    }
  }

  async moveAside(relativePath: string, historyPath: string): Promise<void> {
    const key = this.keyOf('moveAside', relativePath);
    const historyKey = this.keyOf('moveAside', historyPath);
    await this.requireMarkedRoot('moveAside');
    const head = await this.head('moveAside', relativePath, key);
    if (head === null) return;
    await this.requireFree('moveAside', historyPath, historyKey, 'nothing was moved');
    const { s3, client } = await this.client();
    try {
      if (head.sizeBytes <= MAX_SINGLE_COPY_BYTES) {
        await client.send(
          new s3.CopyObjectCommand({ Bucket: this.config.bucket, Key: historyKey, CopySource: this.copySource(key), CopySourceIfMatch: head.etag }),
        );
      } else {
        await this.copyMultipart(key, historyKey, head);
      }
    } catch (err) {
      throw this.unavailable('moveAside', `copy ${relativePath} to ${historyPath}`, err);
    }
    // The history copy must be there, whole, before the original goes.
    const copied = await this.head('moveAside', historyPath, historyKey);
    if (copied === null || copied.sizeBytes !== head.sizeBytes) {
      throw new DestinationUnavailableError(this.name, 'moveAside', `the copy of ${relativePath} in ${historyPath} did not land intact at ${this.where}; the original was kept`);
    }
    this.rememberDirectoriesAbove(historyPath);
    try {
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (err) {
      throw this.unavailable('moveAside', relativePath, err);
    }
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    const key = this.keyOf('readSmall', relativePath);
    const { s3, client } = await this.client();
    try {
      const response = await client.send(new s3.GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return await readBody(response.Body as AsyncIterable<Uint8Array>, MARKER_MAX_BYTES);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.unavailable('readSmall', relativePath, err);
    }
  }

  async writeSmall(relativePath: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean> {
    const key = this.keyOf('writeSmall', relativePath);
    await this.requireMarkedRoot('writeSmall');
    if (mode === 'create') {
      // A service without conditional writes falls back to this check.
      if ((await this.head('writeSmall', relativePath, key)) !== null) return false;
      return this.putIfAbsent('writeSmall', relativePath, key, bytes);
    }
    const { s3, client } = await this.client();
    try {
      await client.send(new s3.PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
      return true;
    } catch (err) {
      throw this.unavailable('writeSmall', relativePath, err);
    }
  }

  // ---- client -----------------------------------------------------------------------------

  private client(): Promise<Sdk> {
    this.sdk ??= (async () => {
      // The SDK warns on every process about Node versions its future releases will drop;
      // squirrel pins its SDK, so in cron mail that is noise.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      // The SDK takes most of a second to load; only commands that use s3 pay for it.
      const s3 = await import('@aws-sdk/client-s3');
      const { accessKeyId, secretAccessKey } = this.config;
      const whenRequired = this.config.requestChecksum === 'when_required';
      const client = new s3.S3Client({
        region: this.config.region ?? (this.config.endpoint !== null ? 'us-east-1' : undefined),
        ...(this.config.endpoint !== null ? { endpoint: this.config.endpoint } : {}),
        forcePathStyle: this.config.forcePathStyle,
        followRegionRedirects: true,
        ...(accessKeyId !== null && secretAccessKey !== null ? { credentials: { accessKeyId: accessKeyId.reveal(), secretAccessKey: secretAccessKey.reveal() } } : {}),
        requestChecksumCalculation: whenRequired ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
        // squirrel hashes every byte it reads with BLAKE3; an SDK checksum failure would turn a
        // corrupt copy into "could not check" instead of "corrupt".
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: this.options.maxAttempts,
        requestHandler: { connectionTimeout: this.options.connectTimeoutMs, requestTimeout: this.options.requestTimeoutMs },
      });
      return { s3, client };
    })();
    return this.sdk;
  }

  private get checksumAlgorithm(): { ChecksumAlgorithm: 'CRC32' } | Record<string, never> {
    return this.config.requestChecksum === 'when_required' ? {} : { ChecksumAlgorithm: 'CRC32' };
  }

  private keyOf(operation: string, relativePath: string): string {
    checkDestinationPath(this.name, operation, relativePath);
    return this.keyPrefix + relativePath;
  }

  private copySource(key: string): string {
    return `${this.config.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
  }

  // ---- root and "absent" --------------------------------------------------------------------

  private async rootStateFor(operation: string): Promise<RootState> {
    const { s3, client } = await this.client();
    const markerKey = this.keyOf(operation, DESTINATION_MARKER);
    let marker: Buffer;
    try {
      const response = await client.send(new s3.GetObjectCommand({ Bucket: this.config.bucket, Key: markerKey }));
      marker = await readBody(response.Body as AsyncIterable<Uint8Array>, MARKER_MAX_BYTES);
    } catch (err) {
      const name = sdkError(err).name;
      if (name === 'NoSuchBucket') return 'missing';
      if (name === 'NoSuchKey') return 'unmarked';
      if (!isNotFound(err)) throw this.unavailable(operation, DESTINATION_MARKER, err);
      // A 404 without a code: ask about the bucket itself.
      try {
        await client.send(new s3.HeadBucketCommand({ Bucket: this.config.bucket }));
        return 'unmarked';
      } catch (bucketErr) {
        if (sdkError(bucketErr).$metadata?.httpStatusCode === 404) return 'missing';
        throw this.unavailable(operation, `bucket '${this.config.bucket}'`, bucketErr);
      }
    }
    checkMarker(this.name, this.location, marker, operation);
    this.markerConfirmed = true;
    return 'ok';
  }

  /** Writers and "absent" answers need the marker: without it this may be the wrong bucket or prefix. */
  private async requireMarkedRoot(operation: string): Promise<void> {
    if (this.markerConfirmed) return;
    const state = await this.rootStateFor(operation);
    if (state === 'missing') {
      throw new DestinationUnavailableError(
        this.name,
        operation,
        `bucket '${this.config.bucket}' does not exist at ${this.where} (check bucket, region and endpoint; a new destination needs sync --init, which creates it)`,
      );
    }
    if (state === 'unmarked') {
      throw new DestinationUnavailableError(
        this.name,
        operation,
        `${this.location} has no ${DESTINATION_MARKER} marker (is this the right bucket and prefix? a new destination needs sync --init)`,
      );
    }
  }

  /** Nothing at the key: absent, unless objects live below it (a "directory") or the root is not ours. */
  private async absent(operation: string, relativePath: string, key: string): Promise<{ kind: 'absent' }> {
    if (await this.hasObjectsBelow(operation, relativePath, key)) {
      throw new DestinationUnavailableError(this.name, operation, `${relativePath} at ${this.where} is a directory (objects exist below it), not a file squirrel wrote; look at it by hand`);
    }
    await this.requireMarkedRoot(operation);
    return { kind: 'absent' };
  }

  // ---- requests ---------------------------------------------------------------------------

  private async head(operation: string, relativePath: string, key: string): Promise<{ sizeBytes: number; etag: string | undefined } | null> {
    const { s3, client } = await this.client();
    try {
      const response = await client.send(new s3.HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return { sizeBytes: response.ContentLength ?? 0, etag: response.ETag };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.unavailable(operation, relativePath, err);
    }
  }

  private async hasObjectsBelow(operation: string, relativePath: string, key: string): Promise<boolean> {
    const { s3, client } = await this.client();
    try {
      const response = await client.send(new s3.ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: `${key}/`, MaxKeys: 1 }));
      return (response.KeyCount ?? response.Contents?.length ?? 0) > 0;
    } catch (err) {
      throw this.unavailable(operation, relativePath, err);
    }
  }

  /**
   * Refuse a key that is taken: an object there, objects below it, or an object at one of its
   * parent "directories". The checks go out together; parents seen free in this run are skipped.
   */
  private async requireFree(operation: string, relativePath: string, key: string, consequence: string): Promise<void> {
    const parents = relativePath
      .split('/')
      .slice(0, -1)
      .map((_, i, segments) => segments.slice(0, i + 1).join('/'))
      .filter((parent) => !this.knownDirectories.has(parent));
    const [existing, below, ...parentObjects] = await Promise.all([
      this.head(operation, relativePath, key),
      this.hasObjectsBelow(operation, relativePath, key),
      ...parents.map((parent) => this.head(operation, parent, this.keyPrefix + parent)),
    ]);
    if (existing !== null || below) {
      throw new DestinationUnavailableError(this.name, operation, `${relativePath} already exists${below ? ' (as a directory)' : ''}; ${consequence}`);
    }
    const blocking = parents.find((_, i) => parentObjects[i] !== null);
    if (blocking !== undefined) {
      throw new DestinationUnavailableError(this.name, operation, `${blocking} is a file, so ${relativePath} cannot be placed below it; ${consequence}`);
    }
  }

  private rememberDirectoriesAbove(relativePath: string): void {
    const segments = relativePath.split('/');
    for (let i = 1; i < segments.length; i++) this.knownDirectories.add(segments.slice(0, i).join('/'));
  }

  /** PutObject unless the key exists; false when the service says it does. */
  private async putIfAbsent(operation: string, relativePath: string, key: string, body: Buffer): Promise<boolean> {
    const { s3, client } = await this.client();
    for (;;) {
      const conditional = this.conditionalWrites;
      try {
        await client.send(
          new s3.PutObjectCommand({
            Bucket: this.config.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ...(conditional ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return true;
      } catch (err) {
        if (this.conditionalRefused(err)) return false;
        if (conditional && this.conditionalUnsupported(err)) continue;
        throw this.unavailable(operation, relativePath, err);
      }
    }
  }

  private conditionalRefused(err: unknown): boolean {
    const e = sdkError(err);
    return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
  }

  /** A service without conditional writes: fall back to the HEAD check already made. */
  private conditionalUnsupported(err: unknown): boolean {
    const e = sdkError(err);
    if (e.name !== 'NotImplemented' && e.$metadata?.httpStatusCode !== 501) return false;
    this.conditionalWrites = false;
    return true;
  }

  private async putMultipart(relativePath: string, key: string, source: LocalSource, localFile: string): Promise<boolean> {
    const { s3, client } = await this.client();
    const partSize = Math.max(this.options.partSizeBytes, Math.ceil(source.sizeBytes / MAX_PARTS));
    const partCount = Math.ceil(source.sizeBytes / partSize);
    let uploadId: string | undefined;
    try {
      const created = await client.send(new s3.CreateMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, ...this.checksumAlgorithm }));
      uploadId = created.UploadId;
      const parts: { PartNumber: number; ETag?: string; ChecksumCRC32?: string }[] = new Array(partCount);
      let nextPart = 0;
      const worker = async () => {
        while (nextPart < partCount) {
          const index = nextPart++;
          const offset = index * partSize;
          const uploaded = await this.buffers.use(() => {
            const bytes = readLocal(source, localFile, offset, Math.min(partSize, source.sizeBytes - offset));
            return client.send(
              new s3.UploadPartCommand({ Bucket: this.config.bucket, Key: key, UploadId: uploadId, PartNumber: index + 1, Body: bytes, ContentLength: bytes.length, ...this.checksumAlgorithm }),
            );
          });
          parts[index] = { PartNumber: index + 1, ETag: uploaded.ETag, ...(uploaded.ChecksumCRC32 ? { ChecksumCRC32: uploaded.ChecksumCRC32 } : {}) };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.options.partConcurrency, partCount) }, worker));
      for (;;) {
        const conditional = this.conditionalWrites;
        try {
          await client.send(
            new s3.CompleteMultipartUploadCommand({
              Bucket: this.config.bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
              ...(conditional ? { IfNoneMatch: '*' } : {}),
            }),
          );
          uploadId = undefined;
          return true;
        } catch (err) {
          if (this.conditionalRefused(err)) return false;
          if (conditional && this.conditionalUnsupported(err)) continue;
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof LocalSourceError) throw err;
      throw this.unavailable('put', relativePath, err);
    } finally {
      // An unfinished upload is invisible but billed; abort it. Failing that, the bucket's
      // lifecycle rule for incomplete uploads (if any) cleans it up.
      if (uploadId !== undefined) {
        await client.send(new s3.AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      }
    }
  }

  /** CopyObject stops at 5 GiB; larger objects are copied in ranges on the server. */
  private async copyMultipart(key: string, historyKey: string, head: { sizeBytes: number; etag: string | undefined }): Promise<void> {
    const { s3, client } = await this.client();
    const created = await client.send(new s3.CreateMultipartUploadCommand({ Bucket: this.config.bucket, Key: historyKey, ...this.checksumAlgorithm }));
    const uploadId = created.UploadId;
    try {
      const parts: { PartNumber: number; ETag?: string; ChecksumCRC32?: string }[] = [];
      for (let offset = 0, partNumber = 1; offset < head.sizeBytes; offset += COPY_PART_BYTES, partNumber++) {
        const last = Math.min(offset + COPY_PART_BYTES, head.sizeBytes) - 1;
        const copied = await client.send(
          new s3.UploadPartCopyCommand({
            Bucket: this.config.bucket,
            Key: historyKey,
            UploadId: uploadId,
            PartNumber: partNumber,
            CopySource: this.copySource(key),
            CopySourceRange: `bytes=${offset}-${last}`,
            CopySourceIfMatch: head.etag,
          }),
        );
        const result = copied.CopyPartResult;
        parts.push({ PartNumber: partNumber, ETag: result?.ETag, ...(result?.ChecksumCRC32 ? { ChecksumCRC32: result.ChecksumCRC32 } : {}) });
      }
      await client.send(new s3.CompleteMultipartUploadCommand({ Bucket: this.config.bucket, Key: historyKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await client.send(new s3.AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: historyKey, UploadId: uploadId })).catch(() => undefined);
      throw err;
    }
  }

  private async *readChunks(relativePath: string, key: string): AsyncGenerator<Uint8Array> {
    const { s3, client } = await this.client();
    // A dropped download resumes at the byte it reached, pinned to the same object by its ETag.
    let offset = 0;
    let etag: string | undefined;
    let totalBytes: number | undefined;
    for (let attempt = 1; ; attempt++) {
      if (totalBytes !== undefined && offset >= totalBytes) return;
      let response;
      try {
        response = await client.send(
          new s3.GetObjectCommand({ Bucket: this.config.bucket, Key: key, ...(offset > 0 ? { Range: `bytes=${offset}-`, IfMatch: etag } : {}) }),
        );
      } catch (err) {
        if (!isNotFound(err)) throw this.unavailable('read', relativePath, err);
        await this.absent('read', relativePath, key);
        throw new DestinationUnavailableError(this.name, 'read', `${relativePath} does not exist at ${this.where}`);
      }
      if (offset === 0) {
        etag = response.ETag;
        totalBytes = response.ContentLength;
      }
      const body = response.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
      try {
        for await (const chunk of body) {
          for (let start = 0; start < chunk.length; start += READ_CHUNK_BYTES) {
            const piece = chunk.subarray(start, start + READ_CHUNK_BYTES);
            offset += piece.length;
            yield piece;
          }
          attempt = 0;
        }
        return;
      } catch (err) {
        body.destroy?.();
        if (attempt >= this.options.maxAttempts || !TRANSIENT_STREAM_CODES.has(sdkError(err).code ?? '')) throw this.unavailable('read', relativePath, err);
      }
    }
  }

  private async *listFrom(start: string): AsyncGenerator<ListedFile> {
    // Even an empty answer needs the marker: an empty listing of the wrong bucket proves nothing.
    await this.requireMarkedRoot('list');
    const { s3, client } = await this.client();
    const prefix = this.keyPrefix + (start === '' ? '' : `${start}/`);
    let continuationToken: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new s3.ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, ContinuationToken: continuationToken }));
      } catch (err) {
        throw this.unavailable('list', start || this.location, err);
      }
      for (const object of page.Contents ?? []) {
        const relativePath = (object.Key ?? '').slice(this.keyPrefix.length);
        // Folder placeholders ('a/') and keys no path maps to ('a//b') are not squirrel's files.
        if (relativePath.endsWith('/') || unsafeDestinationPath(relativePath) !== null) continue;
        yield { path: relativePath, sizeBytes: object.Size ?? 0 };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  private unavailable(operation: string, subject: string, err: unknown): DestinationUnavailableError {
    if (err instanceof DestinationUnavailableError) return err;
    return new DestinationUnavailableError(this.name, operation, `${subject} at ${this.where}: ${this.describe(err, operation)}`);
  }

  /** What went wrong, in words that say what to check; never a secret. */
  private describe(err: unknown, operation: string): string {
    const e = sdkError(err);
    const status = e.$metadata?.httpStatusCode;
    const attempts = e.$metadata?.attempts ?? 1;
    const gaveUp = attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
    const name = e.name ?? 'Error';
    if (AUTH_ERRORS.has(name) || status === 403) {
      const code = [name === 'Unknown' ? null : name, status ? `HTTP ${status}` : null].filter(Boolean).join(', ');
      return `access denied (${code}): check access_key_id and secret_access_key (or the AWS profile) and the bucket's permissions`;
    }
    if (name === 'NoSuchBucket') return `bucket '${this.config.bucket}' does not exist (check bucket, region and endpoint)`;
    if (name === 'CredentialsProviderError') return 'no AWS credentials found: set access_key_id and secret_access_key in the config, or configure the AWS environment or profile';
    if (/Region is missing/i.test(e.message ?? '')) return 'no region: set region in the config (or AWS_REGION)';
    if (e.code !== undefined && /^E[A-Z]+$/.test(e.code)) return `cannot reach ${this.where}: ${e.message ?? e.code}${gaveUp}`;
    if (name === 'TimeoutError' || name === 'RequestTimeout') return `no answer from ${this.where} in time${gaveUp}`;
    // Some S3-compatible services reject the checksum headers the SDK adds to uploads.
    const uploading = operation === 'put' || operation === 'init' || operation === 'moveAside' || operation === 'writeSmall';
    const hint =
      uploading && this.config.requestChecksum === 'when_supported' && (status === 400 || status === 501) && CHECKSUM_SUSPECTS.has(name)
        ? ' (if this service rejects the SDK\'s extra checksums, set request_checksum: when_required)'
        : '';
    return `${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? 'no message'}${gaveUp}${hint}`;
  }
}

/** `length` bytes of the local file from `offset` (fewer if it shrank; the read-back will tell). */
function readLocal(source: LocalSource, localFile: string, offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  try {
    while (filled < length) {
      const bytesRead = fs.readSync(source.fd, bytes, filled, length - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
  } catch (err) {
    throw new LocalSourceError(localFile, errorDetail(err));
  }
  return filled === length ? bytes : bytes.subarray(0, filled);
}

async function readBody(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    chunks.push(Buffer.from(chunk));
    total += chunk.length;
    if (total > maxBytes) break;
  }
  return Buffer.concat(chunks);
}
