// Writing objects to S3 without ever replacing one: PutObject (multipart for large files)
// conditional on the key being free where the service supports it, and server-side copies into
// history. Upload bytes held in memory are bounded across every put in flight.

import { LocalSourceError } from '../destination.js';
import { LocalSource, readSource } from '../local-source.js';
import { S3Service, sdkError } from './client.js';

/** S3's limits: parts per upload, and the largest object CopyObject copies in one request. */
const MAX_PARTS = 10_000;
const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
const COPY_PART_BYTES = 512 * 1024 ** 2;

/**
 * A budget of bytes held at once: a holder waits, in order, until its bytes fit beside the
 * others' (one holder alone may exceed it, so a large part is never stuck). Small files then
 * go up many at a time while memory stays under the same bound as a few large ones.
 */
export class ByteBudget {
  private inUse = 0;
  private holders = 0;
  private readonly waiting: { bytes: number; start: () => void }[] = [];
  constructor(private readonly limitBytes: number) {}

  async use<T>(bytes: number, body: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.fits(bytes)) await new Promise<void>((start) => this.waiting.push({ bytes, start }));
    else this.take(bytes);
    try {
      return await body();
    } finally {
      this.inUse -= bytes;
      this.holders--;
      while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) {
        const next = this.waiting.shift()!;
        this.take(next.bytes);
        next.start();
      }
    }
  }

  private fits(bytes: number): boolean {
    return this.holders === 0 || this.inUse + bytes <= this.limitBytes;
  }

  private take(bytes: number): void {
    this.inUse += bytes;
    this.holders++;
  }
}

export class S3Writes {
  /** Cleared when the service rejects If-None-Match on writes; the HEAD check still runs. */
  private conditionalWrites = true;
  /** Upload bytes buffered in memory, bounded across concurrent puts. */
  private readonly buffers: ByteBudget;

  constructor(
    private readonly service: S3Service,
    /** The destination's name, for refusals. */
    private readonly name: string,
  ) {
    const { bufferSlots, multipartThresholdBytes, partSizeBytes } = service.options;
    this.buffers = new ByteBudget(Math.max(1, bufferSlots) * Math.max(multipartThresholdBytes, partSizeBytes));
  }

  private get config() {
    return this.service.config;
  }

  private client() {
    return this.service.client();
  }

  private unavailable(operation: string, subject: string, err: unknown) {
    return this.service.unavailable(this.name, operation, subject, err);
  }

  /** Upload a local file to `key` unless the key exists; false when the service says it does. */
  async putFile(relativePath: string, key: string, source: LocalSource, localFile: string): Promise<boolean> {
    if (source.sizeBytes > this.service.options.multipartThresholdBytes) return this.putMultipart(relativePath, key, source, localFile);
    return this.buffers.use(source.sizeBytes, () => this.putIfAbsent('put', relativePath, key, readLocal(source, localFile, 0, source.sizeBytes)));
  }

  /** PutObject unless the key exists; false when the service says it does. */
  async putIfAbsent(operation: string, relativePath: string, key: string, body: Buffer): Promise<boolean> {
    const { s3, client } = await this.client();
    try {
      return await this.createOnly((condition) => client.send(new s3.PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentLength: body.length, ...condition })));
    } catch (err) {
      throw this.unavailable(operation, relativePath, err);
    }
  }

  /**
   * Send a write that must not replace an object: If-None-Match where the service takes it
   * (else the HEAD check the caller made stands alone). False when the service says the key is taken.
   */
  private async createOnly(send: (condition: { IfNoneMatch?: '*' }) => Promise<unknown>): Promise<boolean> {
    for (;;) {
      const conditional = this.conditionalWrites;
      try {
        await send(conditional ? { IfNoneMatch: '*' } : {});
        return true;
      } catch (err) {
        if (this.conditionalRefused(err)) return false;
        if (conditional && this.conditionalUnsupported(err)) continue;
        throw err;
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
    const partSize = Math.max(this.service.options.partSizeBytes, Math.ceil(source.sizeBytes / MAX_PARTS));
    const partCount = Math.ceil(source.sizeBytes / partSize);
    let uploadId: string | undefined;
    try {
      const created = await client.send(new s3.CreateMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, ...this.service.checksumAlgorithm }));
      uploadId = created.UploadId;
      const parts: { PartNumber: number; ETag?: string; ChecksumCRC32?: string }[] = new Array(partCount);
      let nextPart = 0;
      const worker = async () => {
        while (nextPart < partCount) {
          const index = nextPart++;
          const offset = index * partSize;
          const partBytes = Math.min(partSize, source.sizeBytes - offset);
          const uploaded = await this.buffers.use(partBytes, () => {
            const bytes = readLocal(source, localFile, offset, partBytes);
            return client.send(
              new s3.UploadPartCommand({ Bucket: this.config.bucket, Key: key, UploadId: uploadId, PartNumber: index + 1, Body: bytes, ContentLength: bytes.length, ...this.service.checksumAlgorithm }),
            );
          });
          parts[index] = { PartNumber: index + 1, ETag: uploaded.ETag, ...(uploaded.ChecksumCRC32 ? { ChecksumCRC32: uploaded.ChecksumCRC32 } : {}) };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.service.options.partConcurrency, partCount) }, worker));
      const placed = await this.createOnly((condition) =>
        client.send(new s3.CompleteMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...condition })),
      );
      // Refused, the upload stays unfinished and is aborted below.
      if (placed) uploadId = undefined;
      return placed;
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

  /** A server-side copy of the object at `key` (still the `head` seen) to `historyKey`. */
  async copy(key: string, historyKey: string, head: { sizeBytes: number; etag: string | undefined }): Promise<void> {
    if (head.sizeBytes > MAX_SINGLE_COPY_BYTES) return this.copyMultipart(key, historyKey, head);
    const { s3, client } = await this.client();
    await client.send(new s3.CopyObjectCommand({ Bucket: this.config.bucket, Key: historyKey, CopySource: this.service.copySource(key), CopySourceIfMatch: head.etag }));
  }

  /** CopyObject stops at 5 GiB; larger objects are copied in ranges on the server. */
  private async copyMultipart(key: string, historyKey: string, head: { sizeBytes: number; etag: string | undefined }): Promise<void> {
    const { s3, client } = await this.client();
    const created = await client.send(new s3.CreateMultipartUploadCommand({ Bucket: this.config.bucket, Key: historyKey, ...this.service.checksumAlgorithm }));
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
            CopySource: this.service.copySource(key),
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
}

/** `length` bytes of the local file from `offset` (fewer if it shrank; the read-back will tell). */
function readLocal(source: LocalSource, localFile: string, offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const bytesRead = readSource(localFile, source.fd, bytes, filled, length - filled, offset + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? bytes : bytes.subarray(0, filled);
}
