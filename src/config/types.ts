// The validated, typed configuration. Everything here has passed validateConfig: names are
// well formed, paths are absolute, durations are positive milliseconds, secrets resolved.

import { inspect } from 'node:util';

/** A resolved secret. It prints, serialises and inspects as a mask, never as its value. */
export class Secret {
  readonly #value: string;
  readonly source: string;
  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '********';
  }
  toJSON(): string {
    return `******** (from env ${this.source})`;
  }
  [inspect.custom](): string {
    return this.toJSON();
  }
}

export interface LocalDestinationConfig {
  name: string;
  type: 'local';
  path: string;
}

export interface S3DestinationConfig {
  name: string;
  type: 's3';
  bucket: string;
  prefix: string;
  region: string | null;
  endpoint: string | null;
  forcePathStyle: boolean;
  accessKeyId: Secret | null;
  secretAccessKey: Secret | null;
  requestChecksum: 'when_supported' | 'when_required';
}

export interface SftpDestinationConfig {
  name: string;
  type: 'sftp';
  host: string;
  port: number;
  user: string;
  path: string;
  privateKeyFile: string | null;
  password: Secret | null;
  hostKey: string | null;
  knownHostsFile: string | null;
  remoteHash: 'b3sum' | null;
}

export type DestinationConfig = LocalDestinationConfig | S3DestinationConfig | SftpDestinationConfig;

export interface VolumeConfig {
  name: string;
  path: string;
  syncTo: string[];
  /** Absent: offload refuses for this volume. */
  offloadRequires: string[] | null;
  /** Opt-in maximum evidence age; absent: no age check. */
  offloadMaxEvidenceAgeMs: number | null;
  /**
   * The folder the volume's copies live in at each of its destinations (`<root>/<namespace>/`):
   * `namespace:` for the volume, else `namespace_prefix` + the volume name.
   */
  namespaces: Map<string, string>;
  /** Gitignore-style patterns of what is never indexed, pushed or offloaded (src/config/exclude.ts). */
  exclude: string[];
}

/** Another node this one trusts: what it attests about this node's copies is applied. */
export interface PeerConfig {
  name: string;
  /** `ed25519:<base64>`, as that node's `squirrel node show` prints it. */
  publicKey: string;
}

export interface Config {
  /** The file this came from. */
  source: string;
  node: string;
  db: string;
  /** Put before a volume's name to make its default namespace at every destination ('' by default). */
  namespacePrefix: string;
  /** How many catalog snapshots of this node each destination keeps (default 7). */
  catalogKeep: number;
  volumes: Map<string, VolumeConfig>;
  destinations: Map<string, DestinationConfig>;
  peers: Map<string, PeerConfig>;
}
