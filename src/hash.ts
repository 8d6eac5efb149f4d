// BLAKE3 hashing through a native binding (@napi-rs/blake-hash). Files are read in fixed
// chunks so memory stays bounded whatever the file size. A file is hashed through an open
// descriptor so the caller can compare the inode it hashed with the one it later acts on.

import { Blake3Hasher } from '@napi-rs/blake-hash';
import fs from 'node:fs';

export const HASH_BYTES = 32;
export const READ_CHUNK_BYTES = 1 << 20;

export type Blake3 = Buffer;

export function blake3Hex(hash: Uint8Array): string {
  return Buffer.from(hash).toString('hex');
}

export function parseBlake3Hex(hex: string): Blake3 | null {
  return /^[0-9a-f]{64}$/i.test(hex) ? Buffer.from(hex, 'hex') : null;
}

export function hashBytes(bytes: Uint8Array): Blake3 {
  return new Blake3Hasher().update(bytes).digestBuffer();
}

export interface FdHash {
  hash: Blake3;
  sizeBytes: number;
}

/**
 * Hash everything readable from an open descriptor, from offset 0. With `expectedBytes` (the
 * size an fstat just gave), a short read that reaches it ends the hash without the read that
 * would return 0: the caller must fstat again and compare, as a file that grew meanwhile is
 * hashed short.
 */
export function hashFd(fd: number, buffer: Buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES), expectedBytes: number | null = null): FdHash {
  const hasher = new Blake3Hasher();
  let position = 0;
  for (;;) {
    const read = fs.readSync(fd, buffer, 0, buffer.length, position);
    if (read === 0) break;
    hasher.update(read === buffer.length ? buffer : buffer.subarray(0, read));
    position += read;
    if (read < buffer.length && position === expectedBytes) break;
  }
  return { hash: hasher.digestBuffer(), sizeBytes: position };
}

export function hashFile(filePath: string): FdHash {
  const fd = fs.openSync(filePath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return hashFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Incremental hasher for streamed bytes (destination read-back). */
export class StreamingBlake3 {
  private readonly hasher = new Blake3Hasher();
  sizeBytes = 0;
  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    this.sizeBytes += chunk.length;
  }
  digest(): Blake3 {
    return this.hasher.digestBuffer();
  }
}

export async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<FdHash> {
  const hasher = new StreamingBlake3();
  for await (const chunk of stream) hasher.update(chunk);
  return { hash: hasher.digest(), sizeBytes: hasher.sizeBytes };
}
