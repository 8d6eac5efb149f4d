// This node's ed25519 key pair (SPEC §9): made with the database, the private key kept beside
// it (`<db>.key`, mode 0600) and included in nothing published. A peer trusts this node by
// listing its public key (`ed25519:<base64>`) under `peers:`; everything this node publishes
// about copies (attestations, catalog snapshots) is signed with it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_KEY_PREFIX } from '../config/public-key.js';
import { OperationalError } from '../errors.js';

export interface NodeKey {
  privateKey: crypto.KeyObject;
  /** `ed25519:<base64 of the 32 raw bytes>`, as `node show` prints and `peers:` takes. */
  publicKey: string;
}

const PREFIX = PUBLIC_KEY_PREFIX;

export function nodeKeyPath(dbPath: string): string {
  return `${dbPath}.key`;
}

/** The key beside the database, made (private, create-only) when there is none yet. */
export function loadOrCreateNodeKey(dbPath: string): NodeKey {
  const file = nodeKeyPath(dbPath);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    try {
      fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another command made it first: use that one.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new OperationalError(`cannot write this node's key ${file}: ${(err as Error).message}`, 'node-key');
    }
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(fs.readFileSync(file));
  } catch (err) {
    throw new OperationalError(`cannot read this node's key ${file}: ${(err as Error).message}; restore it, or move it aside to make a new one (peers must then trust the new public key)`, 'node-key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new OperationalError(`${file} is not an ed25519 key`, 'node-key');
  return { privateKey, publicKey: publicKeyText(crypto.createPublicKey(privateKey)) };
}

export function publicKeyText(key: crypto.KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return PREFIX + der.subarray(der.length - 32).toString('base64');
}

/** The SPKI form Node's crypto verifies with, from `ed25519:<base64>`. */
function publicKeyObject(text: string): crypto.KeyObject {
  const raw = Buffer.from(text.slice(PREFIX.length), 'base64');
  return crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
}

export function sign(key: NodeKey, bytes: Buffer): string {
  return crypto.sign(null, bytes, key.privateKey).toString('base64');
}

export function verifySignature(publicKey: string, bytes: Buffer, signature: string): boolean {
  try {
    return crypto.verify(null, bytes, publicKeyObject(publicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
