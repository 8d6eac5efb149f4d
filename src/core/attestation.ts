// Signed attestations, the destination as the rendezvous (SPEC §9). A node writes what it
// verified at a destination to `<root>/.squirrel-evidence/<node>/<seq>.json`: for which
// namespaces (whose, which volume, as listed by which catalog snapshot), when by its clock, by
// which method, and what it found missing or corrupt. `seq` is the node's own monotonic number
// and each file is written create-only: a taken seq is never overwritten (another process of
// the node took it: the next number is tried). The signed part is kept as the exact text that
// was signed, so checking a signature never depends on how JSON is re-serialised.

import { Destination, DestinationUnavailableError } from '../destinations/destination.js';
import { Store } from '../store/store.js';
import { NodeKey, sign, verifySignature } from './node-key.js';

export const EVIDENCE_DIR = '.squirrel-evidence';
const FORMAT = 1;
/** Bad copies listed per namespace; beyond it the entry says `truncated` and no good news is taken from it. */
export const MAX_LISTED_FINDINGS = 10_000;

export interface Finding {
  path: string;
  blake3: string;
}

/** What one node found about one namespace at the destination. */
export interface AttestationAbout {
  /** The node whose namespace it is (the attesting node itself, or the peer verified for). */
  node: string;
  namespace: string;
  /** The owning volume's id (its namespace marker's). */
  volume: string;
  /** The catalog snapshot whose ledger listed the copies (its name carries the run it covers). */
  catalog: string | null;
  /** The owner's run the catalog covers: copies pushed up to it were checked. */
  coversRunId: number;
  checked: number;
  ok: number;
  missing: Finding[];
  corrupt: Finding[];
  /** More bad copies than listed: nothing good may be concluded from this entry. */
  truncated: boolean;
}

export interface Attestation {
  node: string;
  seq: number;
  /** The destination's id (its marker's). */
  destination: string;
  /** When the verification began, by the attesting node's clock. */
  atNs: bigint;
  method: string;
  about: AttestationAbout[];
}

export function attestationPath(node: string, seq: number): string {
  return `${EVIDENCE_DIR}/${node}/${seq}.json`;
}

function encode(a: Attestation, key: NodeKey): Buffer {
  const signed = JSON.stringify({ format: FORMAT, ...a, atNs: a.atNs.toString() });
  return Buffer.from(`${JSON.stringify({ squirrel: FORMAT, signed, signature: sign(key, Buffer.from(signed)) }, null, 1)}\n`);
}

/** The attestation, if its signature is `publicKey`'s and it is well formed; else why not. */
export function decodeAttestation(bytes: Buffer, publicKey: string): { attestation: Attestation } | { problem: string } {
  let outer: { signed?: unknown; signature?: unknown };
  try {
    outer = JSON.parse(bytes.toString('utf8')) as typeof outer;
  } catch {
    return { problem: 'not JSON' };
  }
  if (typeof outer.signed !== 'string' || typeof outer.signature !== 'string') return { problem: 'not a signed squirrel attestation' };
  if (!verifySignature(publicKey, Buffer.from(outer.signed), outer.signature)) return { problem: 'its signature is not that node\'s (forged or altered)' };
  try {
    const body = JSON.parse(outer.signed) as Record<string, unknown>;
    if (body.format !== FORMAT) return { problem: `attestation format ${String(body.format)} is not understood by this squirrel` };
    const about = (body.about as AttestationAbout[]).map((a) => ({ ...a, missing: a.missing ?? [], corrupt: a.corrupt ?? [], truncated: a.truncated === true }));
    return {
      attestation: { node: String(body.node), seq: Number(body.seq), destination: String(body.destination), atNs: BigInt(String(body.atNs)), method: String(body.method), about },
    };
  } catch {
    return { problem: 'its signed part is malformed' };
  }
}

/**
 * Sign and place an attestation under the next free seq of this node; returns the seq. A seq
 * found taken (another process of this node, or a copy of its index) is skipped, never replaced.
 */
export async function publishAttestation(store: Store, destination: Destination, key: NodeKey, a: Omit<Attestation, 'seq'>): Promise<number> {
  let seq = store.peers.nextAttestationSeq();
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await destination.writeSmall(attestationPath(a.node, seq), encode({ ...a, seq }, key), 'create')) return seq;
    seq = store.peers.nextAttestationSeq(seq + 1);
  }
  throw new DestinationUnavailableError(destination.name, 'writeSmall', `could not find a free attestation number for node '${a.node}' below ${seq}`);
}

/** The seqs a node has published at the destination, ascending. */
export async function listAttestations(destination: Destination, node: string): Promise<number[]> {
  const seqs: number[] = [];
  const folder = `${EVIDENCE_DIR}/${node}/`;
  for await (const file of destination.list(`${EVIDENCE_DIR}/${node}`)) {
    const m = /^(\d+)\.json$/.exec(file.path.slice(folder.length));
    if (m) seqs.push(Number(m[1]));
  }
  return seqs.sort((a, b) => a - b);
}

/** The nodes with an evidence folder at the destination. */
export async function attestingNodes(destination: Destination): Promise<string[]> {
  const nodes = new Set<string>();
  for await (const file of destination.list(EVIDENCE_DIR)) {
    const [node, name] = file.path.slice(EVIDENCE_DIR.length + 1).split('/');
    if (name && /^\d+\.json$/.test(name)) nodes.add(node);
  }
  return [...nodes].sort();
}
