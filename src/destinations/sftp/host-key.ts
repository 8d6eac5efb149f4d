// SSH host key verification for the sftp destination. A server is trusted only when its key
// matches the pinned `host_key` or an entry for the host in a known_hosts file. An unknown or
// changed key is refused, showing the offered fingerprint so the user can check and pin it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import { fingerprintOf, keyTypeOf, pinnedFingerprint, pinnedKeyType } from '../../config/host-key.js';
import { errnoCode } from '../../errors.js';

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
    const pinnedType = pinnedKeyType(policy.pinned);
    types = pinnedType ? [pinnedType] : [];
  } else {
    const name = knownHostsName(policy.host, policy.port);
    types = [...new Set(knownHosts.filter((entry) => !entry.revoked && hostMatches(entry.patterns, name)).map((entry) => entry.keyType))];
  }
  // An RSA key is presented under SHA-2 signature algorithms.
  return types.flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]));
}
