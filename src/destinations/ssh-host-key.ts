// SSH host key verification for the sftp destination. A server is trusted only when its key
// matches the pinned `host_key` (a SHA256 fingerprint or a public key line) or an entry for
// the host in a known_hosts file. An unknown or changed key is refused, and the message
// shows the offered fingerprint so the user can check it out of band and pin it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import { errnoCode } from '../errors.js';

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

/** Why a configured `host_key` is not usable, or null. Config validation uses this. */
export function hostKeyProblem(value: string): string | null {
  const text = value.trim();
  if (FINGERPRINT_PATTERN.test(text)) return null;
  const match = PUBLIC_KEY_PATTERN.exec(text);
  if (match && keyTypeOf(Buffer.from(match[2], 'base64')) === match[1]) return null;
  return `'${value}' is not a host key; give its SHA256 fingerprint (SHA256:..., as \`ssh-keyscan HOST | ssh-keygen -lf -\` prints it) or its public key line (ssh-ed25519 AAAA...)`;
}

/** The fingerprint a pinned `host_key` stands for. */
function pinnedFingerprint(pinned: string): string {
  const text = pinned.trim();
  const fingerprint = FINGERPRINT_PATTERN.exec(text);
  if (fingerprint) return `SHA256:${fingerprint[1]}`;
  const publicKey = PUBLIC_KEY_PATTERN.exec(text);
  return publicKey ? fingerprintOf(Buffer.from(publicKey[2], 'base64')) : text;
}

/** One usable known_hosts line: host patterns (or a hashed name) and a key. */
interface KnownHost {
  patterns: string[];
  revoked: boolean;
  keyType: string;
  keyBlob: Buffer;
}

/** The parsed lines of a known_hosts file; a missing file has none. Unreadable files throw. */
export function readKnownHosts(file: string): KnownHost[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const entries: KnownHost[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0].startsWith('@')) {
      // Certificate authorities are not supported: such a line never vouches for a key.
      if (fields[0] !== '@revoked') continue;
      revoked = true;
      fields.shift();
    }
    if (fields.length < 3) continue;
    const keyBlob = Buffer.from(fields[2], 'base64');
    if (keyTypeOf(keyBlob) !== fields[1]) continue;
    entries.push({ patterns: fields[0].split(','), revoked, keyType: fields[1], keyBlob });
  }
  return entries;
}

/** How a host is written in known_hosts: `name`, or `[name]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatches(pattern: string, name: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return regex.test(name);
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, magic, salt, hash] = pattern.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  return crypto.createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/** Does a line's host field name this host? A matching `!pattern` excludes it. */
function hostMatches(patterns: string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('|')) {
      if (hashedMatches(pattern, name)) matched = true;
    } else if (pattern.startsWith('!')) {
      if (globMatches(pattern.slice(1), name)) return false;
    } else if (globMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

export interface HostKeyPolicy {
  host: string;
  port: number;
  /** The configured `host_key`; when set, known_hosts is not consulted. */
  pinned: string | null;
  knownHostsFile: string;
}

export type HostKeyVerdict = { trusted: true } | { trusted: false; reason: string };

/** Judge the key a server offered. Never trusts by default. */
export function judgeHostKey(policy: HostKeyPolicy, offered: Buffer, knownHosts: KnownHost[]): HostKeyVerdict {
  const offeredFingerprint = fingerprintOf(offered);
  const offeredType = keyTypeOf(offered);
  const shown = `${offeredType} key ${offeredFingerprint}`;
  if (policy.pinned !== null) {
    const expected = pinnedFingerprint(policy.pinned);
    if (expected === offeredFingerprint) return { trusted: true };
    return {
      trusted: false,
      reason:
        `the server offered ${shown}, but host_key in the config pins ${expected}. ` +
        'If the server was reinstalled, check the new key with its administrator and update host_key; otherwise this may be an attack',
    };
  }
  const name = knownHostsName(policy.host, policy.port);
  const forHost = knownHosts.filter((entry) => hostMatches(entry.patterns, name));
  if (forHost.some((entry) => entry.revoked && entry.keyBlob.equals(offered))) {
    return { trusted: false, reason: `the server offered ${shown}, which ${policy.knownHostsFile} marks @revoked` };
  }
  const valid = forHost.filter((entry) => !entry.revoked);
  if (valid.some((entry) => entry.keyBlob.equals(offered))) return { trusted: true };
  if (valid.length > 0) {
    const expected = valid.map((entry) => `${entry.keyType} ${fingerprintOf(entry.keyBlob)}`).join(', ');
    return {
      trusted: false,
      reason:
        `the host key CHANGED: the server offered ${shown}, but ${policy.knownHostsFile} has ${expected} for ${name}. ` +
        'If the server was reinstalled, check the new key with its administrator and update known_hosts; otherwise this may be an attack',
    };
  }
  return {
    trusted: false,
    reason:
      `the host key of ${name} is not known (the server offered ${shown}). ` +
      `Check the fingerprint with the server's administrator, then set host_key: "${offeredFingerprint}" in the config or add the key to ${policy.knownHostsFile}`,
  };
}

/**
 * Key types to ask the server for, so it presents a key we can recognise: the types known
 * for this host first. Empty: no preference (the library's default order).
 */
export function preferredHostKeyTypes(policy: HostKeyPolicy, knownHosts: KnownHost[]): string[] {
  let types: string[];
  if (policy.pinned !== null) {
    const publicKey = PUBLIC_KEY_PATTERN.exec(policy.pinned.trim());
    types = publicKey ? [publicKey[1]] : [];
  } else {
    const name = knownHostsName(policy.host, policy.port);
    types = [...new Set(knownHosts.filter((entry) => !entry.revoked && hostMatches(entry.patterns, name)).map((entry) => entry.keyType))];
  }
  // An RSA key is presented under SHA-2 signature algorithms.
  return types.flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]));
}
