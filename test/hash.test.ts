// BLAKE3 against the official test vectors (input byte i is i % 251; the expected value is
// the first 32 bytes of `hash`), through every entry point squirrel hashes with.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { READ_CHUNK_BYTES, StreamingBlake3, blake3Hex, hashBytes, hashFile, hashStream, parseBlake3Hex } from '../src/hash.js';
import { cleanupTempDirs, tempDir, vectorInput } from './helpers.js';

const VECTORS: [number, string][] = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [8193, 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];

afterAll(cleanupTempDirs);

describe('BLAKE3 known answers', () => {
  it.each(VECTORS)('hashBytes of %i bytes', (lengthBytes, expected) => {
    expect(blake3Hex(hashBytes(vectorInput(lengthBytes)))).toBe(expected);
  });

  it.each(VECTORS)('hashFile of %i bytes', (lengthBytes, expected) => {
    // setup
    const file = path.join(tempDir(), `vector-${lengthBytes}`);
    fs.writeFileSync(file, vectorInput(lengthBytes));
    // act
    const result = hashFile(file);
    // expect
    expect(blake3Hex(result.hash)).toBe(expected);
    expect(result.sizeBytes).toBe(lengthBytes);
  });

  it.each(VECTORS)('StreamingBlake3 of %i bytes fed in uneven pieces', (lengthBytes, expected) => {
    // setup: piece sizes that straddle BLAKE3's 64-byte blocks and 1024-byte chunks
    const input = vectorInput(lengthBytes);
    const hasher = new StreamingBlake3();
    const pieceSizes = [1, 63, 64, 65, 1000, 1024, 4097];
    // act
    for (let offset = 0, i = 0; offset < input.length; i++) {
      const size = pieceSizes[i % pieceSizes.length];
      hasher.update(input.subarray(offset, offset + size));
      offset += size;
    }
    // expect
    expect(blake3Hex(hasher.digest())).toBe(expected);
    expect(hasher.sizeBytes).toBe(lengthBytes);
  });
});

describe('hashing across read-chunk boundaries', () => {
  it('hashFile reads a file of several read chunks plus a tail to the same hash as hashBytes and a stream', async () => {
    // setup: 2 read chunks + 12345 bytes, so a full chunk, a full chunk and a partial one are read
    const sizeBytes = READ_CHUNK_BYTES * 2 + 12_345;
    const input = vectorInput(sizeBytes);
    const file = path.join(tempDir(), 'big.bin');
    fs.writeFileSync(file, input);
    // act
    const fromFile = hashFile(file);
    const fromBytes = hashBytes(input);
    const fromStream = await hashStream(fs.createReadStream(file, { highWaterMark: 64 * 1024 + 7 }));
    // expect
    expect(fromFile.sizeBytes).toBe(sizeBytes);
    expect(fromStream.sizeBytes).toBe(sizeBytes);
    expect(blake3Hex(fromFile.hash)).toBe(blake3Hex(fromBytes));
    expect(blake3Hex(fromStream.hash)).toBe(blake3Hex(fromBytes));
  });

  it('a file of exactly one read chunk hashes like its bytes', () => {
    // setup
    const input = vectorInput(READ_CHUNK_BYTES);
    const file = path.join(tempDir(), 'one-chunk.bin');
    fs.writeFileSync(file, input);
    // act + expect
    expect(blake3Hex(hashFile(file).hash)).toBe(blake3Hex(hashBytes(input)));
  });

  it('hashFile refuses to follow a symlink', () => {
    // setup
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'target'), 'bytes');
    fs.symlinkSync(path.join(dir, 'target'), path.join(dir, 'link'));
    // act + expect
    expect(() => hashFile(path.join(dir, 'link'))).toThrow(/ELOOP/);
  });
});

describe('hex round trip', () => {
  it('parses 64 hex digits and rejects anything else', () => {
    const hex = VECTORS[0][1];
    expect(blake3Hex(parseBlake3Hex(hex)!)).toBe(hex);
    expect(parseBlake3Hex(hex.toUpperCase())).not.toBeNull();
    expect(parseBlake3Hex(hex.slice(1))).toBeNull();
    expect(parseBlake3Hex(`${hex.slice(1)}g`)).toBeNull();
  });
});
