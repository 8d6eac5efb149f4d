// The S3 service behind an s3 destination: the SDK, loaded on first use, and failures turned
// into "could not check" in words that say what to check (credentials, bucket, region, the
// service's checksum support), never with a secret in them.

import type { S3Client } from '@aws-sdk/client-s3';
import { S3DestinationConfig } from '../../config/types.js';
import { DestinationUnavailableError, unavailable } from '../destination.js';

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
   * Upload memory across every put in flight: bodies and parts held at once stay below this
   * many times the larger of multipartThresholdBytes and partSizeBytes (many small files fit).
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

/** Errors that mean the credentials or permissions are wrong: retrying will not help. */
const AUTH_ERRORS = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled', 'AccountProblem']);
/** How services that do not take the SDK's flexible checksums answer an upload carrying them. */
const CHECKSUM_SUSPECTS = new Set(['InvalidArgument', 'InvalidRequest', 'NotImplemented', 'BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch', 'Unknown', 'UnknownError']);
/** Failures while a response body streams in; the request is started again. */
export const TRANSIENT_STREAM_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

export interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

export function sdkError(err: unknown): SdkError {
  return (err ?? {}) as SdkError;
}

export function isNotFound(err: unknown): boolean {
  const e = sdkError(err);
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

/**
 * An object's version as a copy's fingerprint (destination.ts): its ETag, the same from HEAD, GET
 * and a listing. Other bytes put at the key get another; the same bytes put the same way may
 * keep it, which is no harm: they are the bytes that were read.
 */
export function etagFingerprint(etag: string | undefined): string | undefined {
  return etag === undefined || etag === '' ? undefined : `etag:${etag.replace(/^W\//, '').replace(/"/g, '')}`;
}

export interface Sdk {
  s3: S3Module;
  client: S3Client;
}

/** The SDK client for one destination's bucket, and how its failures read. */
export class S3Service {
  /** The service, for messages: the endpoint's host, or AWS. */
  readonly where: string;
  private sdk: Promise<Sdk> | null = null;

  constructor(
    readonly config: S3DestinationConfig,
    readonly options: S3Options,
  ) {
    this.where = config.endpoint !== null ? new URL(config.endpoint).host : `AWS S3${config.region ? ` (${config.region})` : ''}`;
  }

  client(): Promise<Sdk> {
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

  get checksumAlgorithm(): { ChecksumAlgorithm: 'CRC32' } | Record<string, never> {
    return this.config.requestChecksum === 'when_required' ? {} : { ChecksumAlgorithm: 'CRC32' };
  }

  copySource(key: string): string {
    return `${this.config.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
  }

  unavailable(destination: string, operation: string, subject: string, err: unknown): DestinationUnavailableError {
    return unavailable(destination, operation, err, () => `${subject} at ${this.where}: ${this.describe(err, operation)}`);
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
