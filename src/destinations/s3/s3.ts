// `type: s3`: a bucket (and key prefix) on AWS S3 or an S3-compatible service; an object's key
// is its destination path under the prefix. S3 has no rename and never shows a partial object:
// put uploads straight to the key (writes.ts), and the "directory" rules of a filesystem are
// kept (no object below an object), so every destination type holds the same tree.

import fs from 'node:fs';
import { S3DestinationConfig } from '../../config/types.js';
import { READ_CHUNK_BYTES, StreamingBlake3 } from '../../hash.js';
import { compareByCodePoint } from '../../paths.js';
import { ABSENT, checkCatalogFilePath, checkDestinationPath, checkStagingPath, checkStagingRemoval, Destination, DESTINATION_MARKER, DestinationUnavailableError, HashResult, leftUntouched, ListedFile, listPrefix, MARKER_MAX_BYTES, METHOD_READBACK, nameTaken, notAFile, requireMarkedRootState, PutHint, RootState, SMALL_FILE_MAX_BYTES, SourceExpectation, StatResult, unsafeDestinationPath } from '../destination.js';
import { openLocalSource } from '../local-source.js';
import { encodeMarker, markedRootState } from '../markers.js';
import { DEFAULT_S3_OPTIONS, etagFingerprint, isNotFound, S3Options, S3Service, sdkError, TRANSIENT_STREAM_CODES } from './client.js';
import { S3Writes } from './writes.js';

/** Puts (each with its read-back) in flight: latency-bound requests overlap well; memory is bounded by writes.ts's byte budget. */
const CONCURRENT_PUTS = 16;

export class S3Destination implements Destination {
  readonly type = 's3';
  readonly concurrentPuts = CONCURRENT_PUTS;
  readonly name: string;
  readonly location: string;
  /** '' or 'prefix/': every key starts with it. */
  private readonly keyPrefix: string;
  private readonly service: S3Service;
  private readonly writes: S3Writes;
  /** The marker was read and named us; the place behind a bucket name does not change mid-run. */
  private markerConfirmed = false;
  /** Key prefixes known to be "directories" (no object at that key) in this run. */
  private readonly knownDirectories = new Set<string>();

  constructor(
    private readonly config: S3DestinationConfig,
    options: Partial<S3Options> = {},
  ) {
    this.name = config.name;
    this.service = new S3Service(config, { ...DEFAULT_S3_OPTIONS, ...options });
    this.writes = new S3Writes(this.service, this.name);
    this.keyPrefix = config.prefix === '' ? '' : `${config.prefix}/`;
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
    const placed = await this.writes.putIfAbsent('init', DESTINATION_MARKER, this.keyOf('init', DESTINATION_MARKER), marker);
    if (!placed) {
      // Another process marked the root first; it must have named us.
      if ((await this.rootStateFor('init')) !== 'ok') throw new DestinationUnavailableError(this.name, 'init', `${this.location}: the marker vanished while being written; run init again`);
    }
    this.markerConfirmed = true;
  }

  list(prefix: string): AsyncIterable<ListedFile> {
    return this.listFrom(listPrefix(this.name, prefix));
  }

  async stat(relativePath: string): Promise<StatResult> {
    const key = this.keyOf('stat', relativePath);
    const head = await this.head('stat', relativePath, key);
    if (head !== null) return { kind: 'present', sizeBytes: head.sizeBytes, fingerprint: etagFingerprint(head.etag) };
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
        if (attempt < this.service.options.maxAttempts && TRANSIENT_STREAM_CODES.has(sdkError(err).code ?? '')) continue;
        throw this.unavailable('hash', relativePath, err);
      }
      if (response.ContentLength !== undefined && hasher.sizeBytes !== response.ContentLength) {
        if (attempt < this.service.options.maxAttempts) continue;
        throw new DestinationUnavailableError(this.name, 'hash', `${relativePath} at ${this.where}: the download stopped after ${hasher.sizeBytes} of ${response.ContentLength} bytes`);
      }
      return { kind: 'present', blake3: hasher.digest(), sizeBytes: hasher.sizeBytes, method: METHOD_READBACK, fingerprint: etagFingerprint(response.ETag) };
    }
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation, hint?: PutHint): Promise<void> {
    const key = this.keyOf('put', relativePath);
    checkStagingPath(this.name, relativePath, stagingPath);
    const source = openLocalSource(localFile, expected);
    try {
      await this.requireMarkedRoot('put');
      // The caller's listing already answered what HEAD and LIST would ask; the PUT stays conditional.
      if (hint?.listedClear !== true) await this.requireFree('put', relativePath, key);
      if (!(await this.writes.putFile(relativePath, key, source, localFile))) throw nameTaken(this.name, 'put', relativePath);
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
    await this.requireFree('moveAside', historyPath, historyKey);
    try {
      await this.writes.copy(key, historyKey, head);
    } catch (err) {
      throw this.unavailable('moveAside', `copy ${relativePath} to ${historyPath}`, err);
    }
    // The history copy must be there, whole, before the original goes.
    const copied = await this.head('moveAside', historyPath, historyKey);
    if (copied === null || copied.sizeBytes !== head.sizeBytes) {
      throw new DestinationUnavailableError(this.name, 'moveAside', `the copy of ${relativePath} in ${historyPath} did not land intact at ${this.where}; the original was kept`);
    }
    this.rememberDirectoriesAbove(historyPath);
    await this.deleteKey('moveAside', relativePath, key);
  }

  private async deleteKey(operation: string, relativePath: string, key: string, absentIsFine = false): Promise<void> {
    const { s3, client } = await this.client();
    try {
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (err) {
      if (!(absentIsFine && isNotFound(err))) throw this.unavailable(operation, relativePath, err);
    }
  }

  async removeStaging(relativePath: string): Promise<number> {
    const key = this.keyOf('removeStaging', relativePath);
    checkStagingRemoval(this.name, relativePath);
    // Uploads go straight to their key here, so there is rarely anything staged; what is there
    // (the object itself and every object below it) is squirrel's own scratch.
    const keys: string[] = (await this.head('removeStaging', relativePath, key)) !== null ? [key] : [];
    for await (const file of this.listFrom(relativePath)) keys.push(this.keyPrefix + file.path);
    for (const scratch of keys) await this.deleteKey('removeStaging', scratch.slice(this.keyPrefix.length), scratch);
    return keys.length;
  }

  async removeCatalogFile(relativePath: string): Promise<void> {
    checkCatalogFilePath(this.name, relativePath);
    const key = this.keyOf('removeCatalogFile', relativePath);
    await this.requireMarkedRoot('removeCatalogFile');
    await this.deleteKey('removeCatalogFile', relativePath, key, true);
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    const key = this.keyOf('readSmall', relativePath);
    const { s3, client } = await this.client();
    try {
      const response = await client.send(new s3.GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return await readBody(response.Body as AsyncIterable<Uint8Array>, SMALL_FILE_MAX_BYTES);
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
      return this.writes.putIfAbsent('writeSmall', relativePath, key, bytes);
    }
    const { s3, client } = await this.client();
    try {
      await client.send(new s3.PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
      return true;
    } catch (err) {
      throw this.unavailable('writeSmall', relativePath, err);
    }
  }

  private client() {
    return this.service.client();
  }

  private get where(): string {
    return this.service.where;
  }

  private keyOf(operation: string, relativePath: string): string {
    checkDestinationPath(this.name, operation, relativePath);
    return this.keyPrefix + relativePath;
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
    const state = markedRootState(this.name, this.location, marker, operation);
    this.markerConfirmed = true;
    return state;
  }

  /** Writers and "absent" answers need the marker: without it this may be the wrong bucket or prefix. */
  private async requireMarkedRoot(operation: string): Promise<void> {
    if (this.markerConfirmed) return;
    requireMarkedRootState(this.name, operation, await this.rootStateFor(operation), {
      missing: `bucket '${this.config.bucket}' does not exist at ${this.where} (check bucket, region and endpoint; a new destination needs sync --init, which creates it)`,
      unmarked: `${this.location} has no ${DESTINATION_MARKER} marker (is this the right bucket and prefix? a new destination needs sync --init)`,
    });
  }

  /** Nothing at the key: absent, unless objects live below it (a "directory") or the root is not ours. */
  private async absent(operation: string, relativePath: string, key: string): Promise<typeof ABSENT> {
    if (await this.hasObjectsBelow(operation, relativePath, key)) {
      throw notAFile(this.name, operation, `${relativePath} at ${this.where}`, 'a directory (objects exist below it)');
    }
    await this.requireMarkedRoot(operation);
    return ABSENT;
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
  private async requireFree(operation: 'put' | 'moveAside', relativePath: string, key: string): Promise<void> {
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
    if (existing !== null || below) throw nameTaken(this.name, operation, relativePath, below ? ' (as a directory)' : '');
    const blocking = parents.find((_, i) => parentObjects[i] !== null);
    if (blocking !== undefined) {
      throw new DestinationUnavailableError(this.name, operation, `${blocking} is a file, so ${relativePath} cannot be placed below it; ${leftUntouched(operation)}`);
    }
  }

  private rememberDirectoriesAbove(relativePath: string): void {
    const segments = relativePath.split('/');
    for (let i = 1; i < segments.length; i++) this.knownDirectories.add(segments.slice(0, i).join('/'));
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
        if (attempt >= this.service.options.maxAttempts || !TRANSIENT_STREAM_CODES.has(sdkError(err).code ?? '')) throw this.unavailable('read', relativePath, err);
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
      const files: ListedFile[] = [];
      for (const object of page.Contents ?? []) {
        const relativePath = (object.Key ?? '').slice(this.keyPrefix.length);
        // Folder placeholders ('a/') and keys no path maps to ('a//b') are not squirrel's files.
        if (relativePath.endsWith('/') || unsafeDestinationPath(relativePath) !== null) continue;
        files.push({ path: relativePath, sizeBytes: object.Size ?? 0, fingerprint: etagFingerprint(object.ETag) });
      }
      // S3 lists in UTF-8 byte order, s3rver by folder: each page is sorted (not across pages).
      yield* files.sort((a, b) => compareByCodePoint(a.path, b.path));
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  private unavailable(operation: string, subject: string, err: unknown): DestinationUnavailableError {
    return this.service.unavailable(this.name, operation, subject, err);
  }
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
