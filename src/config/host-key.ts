// The `host_key` of an sftp destination, as the config writes it: a SHA256 fingerprint or a
// public key line. Config validation checks the text; the sftp destination matches the key a
// server offers against what it stands for.

import crypto from 'node:crypto';

/** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` and OpenSSH's prompts print it. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH wire-format public key blob ('ssh-ed25519', ...). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return length > 0 && 4 + length <= keyBlob.length ? keyBlob.subarray(4, 4 + length).toString('latin1') : 'unknown';
}

const FINGERPRINT_PATTERN = /^SHA256:([A-Za-z0-9+/]{43})=?$/;
const PUBLIC_KEY_PATTERN = /^((?:ssh|ecdsa|sk)-[A-Za-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s.*)?$/;

/** Why a configured `host_key` is not usable, or null. */
export function hostKeyProblem(value: string): string | null {
  const text = value.trim();
  if (FINGERPRINT_PATTERN.test(text)) return null;
  const match = PUBLIC_KEY_PATTERN.exec(text);
  if (match && keyTypeOf(Buffer.from(match[2], 'base64')) === match[1]) return null;
  return `'${value}' is not a host key; give its SHA256 fingerprint (SHA256:..., as \`ssh-keyscan HOST | ssh-keygen -lf -\` prints it) or its public key line (ssh-ed25519 AAAA...)`;
}

/** The fingerprint a pinned `host_key` stands for. */
export function pinnedFingerprint(pinned: string): string {
  const text = pinned.trim();
  const fingerprint = FINGERPRINT_PATTERN.exec(text);
  if (fingerprint) return `SHA256:${fingerprint[1]}`;
  const publicKey = PUBLIC_KEY_PATTERN.exec(text);
  return publicKey ? fingerprintOf(Buffer.from(publicKey[2], 'base64')) : text;
}

/** The key type a pinned public key line names; null for a fingerprint. */
export function pinnedKeyType(pinned: string): string | null {
  return PUBLIC_KEY_PATTERN.exec(pinned.trim())?.[1] ?? null;
}
