// Pure configuration validation: raw YAML data in, a typed Config or *every* problem out,
// each prefixed with its key path (`volumes.pictures.sync_to[1]: ...`). No I/O here: the
// environment, home directory and host name come in as arguments.

import path from 'node:path';
import {
  Config,
  DestinationConfig,
  LocalDestinationConfig,
  PeerConfig,
  S3DestinationConfig,
  SftpDestinationConfig,
  VolumeConfig,
} from './types.js';
import { Checker, didYouMean, isObject, join, Raw, typeName, ValidateContext } from './checker.js';
import { hostKeyProblem } from './host-key.js';
import { publicKeyProblem } from './public-key.js';
import { excludePatternProblem } from './exclude.js';
import { DURATION_HINT, parseDuration } from '../duration.js';

export type { ValidateContext };

export type ValidateResult = { config: Config; errors?: undefined } | { config?: undefined; errors: string[] };

export const TOP_KEYS = ['node', 'db', 'namespace_prefix', 'catalog_keep', 'volumes', 'destinations', 'peers'];
export const VOLUME_KEYS = ['path', 'sync_to', 'offload_requires', 'offload_max_evidence_age', 'namespace', 'exclude'];
export const DESTINATION_KEYS: Record<string, string[]> = {
  local: ['type', 'path'],
  s3: ['type', 'bucket', 'prefix', 'region', 'endpoint', 'force_path_style', 'access_key_id', 'secret_access_key', 'request_checksum'],
  sftp: ['type', 'host', 'port', 'user', 'path', 'private_key_file', 'password', 'host_key', 'known_hosts_file', 'remote_hash'],
};

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** How two network destinations overlap ("is the same place as"), or null. */
function remoteOverlap(a: DestinationConfig, b: DestinationConfig): string | null {
  if (a.type === 'sftp' && b.type === 'sftp') {
    if (a.host.toLowerCase() !== b.host.toLowerCase() || a.port !== b.port) return null;
    const [pa, pb] = [path.posix.resolve('/', a.path), path.posix.resolve('/', b.path)];
    if (pa === pb) return `is the same server directory as`;
    return isInside(pa, pb) || isInside(pb, pa) ? `nests in the server directory of` : null;
  }
  if (a.type === 's3' && b.type === 's3') {
    if (a.bucket !== b.bucket || (a.endpoint ?? '') !== (b.endpoint ?? '')) return null;
    const [pa, pb] = [a.prefix, b.prefix];
    if (pa === pb) return `is the same bucket and prefix as`;
    const under = (x: string, y: string) => y === '' || x.startsWith(`${y}/`);
    return under(pa, pb) || under(pb, pa) ? `nests in the bucket prefix of` : null;
  }
  return null;
}

/** The node name used when the config has none: the host name, made a valid name. */
export function defaultNodeName(hostName: string): string {
  const cleaned = hostName.toLowerCase().split('.')[0].replace(/[^a-z0-9_-]/g, '-').replace(/^[-_]+/, '');
  return cleaned || 'node';
}

function validateDestination(c: Checker, name: string, raw: unknown, keyPath: string): DestinationConfig | null {
  if (!isObject(raw)) {
    c.error(keyPath, `expected a mapping, got ${typeName(raw)}`);
    return null;
  }
  const type = raw.type;
  if (type === undefined) {
    c.error(join(keyPath, 'type'), `is required (one of ${Object.keys(DESTINATION_KEYS).join(', ')})`);
    return null;
  }
  if (typeof type !== 'string' || !(type in DESTINATION_KEYS)) {
    c.error(join(keyPath, 'type'), `unknown destination type ${typeName(type)}; expected one of ${Object.keys(DESTINATION_KEYS).join(', ')}`);
    return null;
  }
  c.unknownKeys(raw, DESTINATION_KEYS[type], keyPath, ` for a ${type} destination`);
  if (type === 'local') {
    const destPath = c.absolutePath(raw, 'path', keyPath, true);
    return destPath === null ? null : ({ name, type, path: destPath } satisfies LocalDestinationConfig);
  }
  if (type === 's3') {
    const bucket = c.string(raw, 'bucket', keyPath, true);
    const dest: S3DestinationConfig = {
      name,
      type,
      bucket: bucket ?? '',
      prefix: (c.string(raw, 'prefix', keyPath, false) ?? '').replace(/^\/+|\/+$/g, ''),
      region: c.string(raw, 'region', keyPath, false),
      endpoint: c.string(raw, 'endpoint', keyPath, false),
      forcePathStyle: c.boolean(raw, 'force_path_style', keyPath, false),
      accessKeyId: c.secret(raw, 'access_key_id', keyPath),
      secretAccessKey: c.secret(raw, 'secret_access_key', keyPath),
      requestChecksum: c.oneOf(raw, 'request_checksum', keyPath, ['when_supported', 'when_required'], 'when_supported')!,
    };
    if (dest.endpoint !== null && !/^https?:\/\/[^\s]+$/.test(dest.endpoint)) c.error(join(keyPath, 'endpoint'), `'${dest.endpoint}' must be an http(s) URL`);
    if (dest.prefix !== '' && dest.prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
      c.error(join(keyPath, 'prefix'), `'${String(raw.prefix)}' must be key segments joined by single '/' (no empty, '.' or '..' segments)`);
    }
    if ((dest.accessKeyId === null) !== (dest.secretAccessKey === null) && raw.access_key_id !== undefined && raw.secret_access_key !== undefined) {
      // both given but one failed to resolve: already reported by secret()
    } else if ((raw.access_key_id === undefined) !== (raw.secret_access_key === undefined)) {
      c.error(keyPath, 'give both access_key_id and secret_access_key, or neither (to use the AWS environment/profile chain)');
    }
    return bucket === null ? null : dest;
  }
  const port = raw.port ?? 22;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) c.error(join(keyPath, 'port'), `expected a port number 1-65535, got ${typeName(port)}`);
  const dest: SftpDestinationConfig = {
    name,
    type: 'sftp',
    host: c.string(raw, 'host', keyPath, true) ?? '',
    port: typeof port === 'number' ? port : 22,
    user: c.string(raw, 'user', keyPath, true) ?? '',
    path: c.string(raw, 'path', keyPath, true) ?? '',
    privateKeyFile: c.absolutePath(raw, 'private_key_file', keyPath, false),
    password: c.secret(raw, 'password', keyPath),
    hostKey: c.string(raw, 'host_key', keyPath, false),
    knownHostsFile: c.absolutePath(raw, 'known_hosts_file', keyPath, false),
    remoteHash: c.oneOf(raw, 'remote_hash', keyPath, ['b3sum'], null),
  };
  if (dest.path && !dest.path.startsWith('/')) c.error(join(keyPath, 'path'), `'${dest.path}' must be an absolute path on the server`);
  const hostKeyError = dest.hostKey === null ? null : hostKeyProblem(dest.hostKey);
  if (hostKeyError !== null) c.error(join(keyPath, 'host_key'), hostKeyError);
  return dest;
}

/**
 * The volume's namespace at each destination it syncs to: `namespace: NAME` for all of them,
 * or `namespace: { DEST: NAME }` per destination; the rest get the node's prefix + the volume name.
 */
function validateNamespaces(c: Checker, raw: Raw, keyPath: string, volumeName: string, syncTo: string[], prefix: string): Map<string, string> {
  const namespaces = new Map(syncTo.map((dest) => [dest, `${prefix}${volumeName}`]));
  const value = raw.namespace;
  const namespacePath = join(keyPath, 'namespace');
  if (value === undefined) return namespaces;
  if (typeof value === 'string') {
    const name = c.name(value, namespacePath);
    if (name !== null) for (const dest of syncTo) namespaces.set(dest, name);
    return namespaces;
  }
  if (!isObject(value)) {
    c.error(namespacePath, `expected a name, or a mapping of destination names to names like { nas: laptop-pictures }, got ${typeName(value)}`);
    return namespaces;
  }
  for (const [dest, entry] of Object.entries(value)) {
    const entryPath = join(namespacePath, dest);
    if (!syncTo.includes(dest)) {
      c.error(entryPath, `'${dest}' is not in sync_to${didYouMean(dest, syncTo)}`);
      continue;
    }
    const name = c.name(entry, entryPath);
    if (name !== null) namespaces.set(dest, name);
  }
  return namespaces;
}

/** `exclude:` a list of gitignore-style patterns, each checked on its own. */
function validateExclude(c: Checker, raw: Raw, keyPath: string): string[] {
  const value = raw.exclude;
  const listPath = join(keyPath, 'exclude');
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    c.error(listPath, `expected a list of patterns like ['.DS_Store', 'node_modules/'], got ${typeName(value)}`);
    return [];
  }
  const patterns: string[] = [];
  value.forEach((item, i) => {
    const itemPath = `${listPath}[${i}]`;
    if (typeof item !== 'string') return c.error(itemPath, `expected a pattern (a string; quote it in YAML if it starts with * or !), got ${typeName(item)}`);
    const problem = excludePatternProblem(item);
    if (problem !== null) return c.error(itemPath, `${JSON.stringify(item)} ${problem}`);
    if (patterns.includes(item)) return c.error(itemPath, `${JSON.stringify(item)} is listed twice`);
    patterns.push(item);
  });
  return patterns;
}

function validateVolume(c: Checker, name: string, raw: unknown, keyPath: string, destinations: Set<string>, namespacePrefix: string): VolumeConfig | null {
  if (!isObject(raw)) {
    c.error(keyPath, `expected a mapping, got ${typeName(raw)}`);
    return null;
  }
  c.unknownKeys(raw, VOLUME_KEYS, keyPath);
  const volumePath = c.absolutePath(raw, 'path', keyPath, true);
  const syncTo = c.nameList(raw, 'sync_to', keyPath, destinations);
  if (raw.sync_to === undefined) c.error(join(keyPath, 'sync_to'), 'is required (a list of destination names; [] to only index)');
  const offloadRequires = c.nameList(raw, 'offload_requires', keyPath, destinations);
  // An empty list would make "every required destination holds it" vacuously true.
  if (offloadRequires !== null && offloadRequires.length === 0 && Array.isArray(raw.offload_requires)) {
    c.error(join(keyPath, 'offload_requires'), 'must name at least one destination; remove the key to never offload this volume');
  }
  offloadRequires?.forEach((dest, i) => {
    if (syncTo && destinations.has(dest) && !syncTo.includes(dest)) {
      c.error(`${join(keyPath, 'offload_requires')}[${i}]`, `'${dest}' is not in sync_to, so nothing would ever be pushed there and offload could never pass`);
    }
  });
  let maxAgeMs: number | null = null;
  if (raw.offload_max_evidence_age !== undefined) {
    const age = raw.offload_max_evidence_age;
    const parsed = typeof age === 'string' || typeof age === 'number' ? parseDuration(age) : { error: `expected a duration, got ${typeName(age)}; ${DURATION_HINT}` };
    if ('error' in parsed) c.error(join(keyPath, 'offload_max_evidence_age'), parsed.error);
    else maxAgeMs = parsed.ms;
  }
  const namespaces = validateNamespaces(c, raw, keyPath, name, syncTo ?? [], namespacePrefix);
  const exclude = validateExclude(c, raw, keyPath);
  if (volumePath === null) return null;
  return { name, path: volumePath, syncTo: syncTo ?? [], offloadRequires, offloadMaxEvidenceAgeMs: maxAgeMs, namespaces, exclude };
}

export function validateConfig(raw: unknown, ctx: ValidateContext): ValidateResult {
  const c = new Checker(ctx);
  if (raw === null || raw === undefined) raw = {};
  if (!isObject(raw)) return { errors: [`(top level): expected a mapping of ${TOP_KEYS.join(', ')}, got ${typeName(raw)}`] };
  c.unknownKeys(raw, TOP_KEYS, '');

  let node = defaultNodeName(ctx.hostName);
  if (raw.node !== undefined) node = c.name(raw.node, 'node') ?? node;
  const db = raw.db === undefined ? path.join(path.dirname(ctx.configPath), 'index.db') : c.absolutePath(raw, 'db', '', true) ?? '';
  let catalogKeep = 7;
  if (raw.catalog_keep !== undefined) {
    if (typeof raw.catalog_keep !== 'number' || !Number.isInteger(raw.catalog_keep) || raw.catalog_keep < 1 || raw.catalog_keep > 1000) {
      c.error('catalog_keep', `expected a whole number of snapshots from 1 to 1000, got ${typeName(raw.catalog_keep)}`);
    } else catalogKeep = raw.catalog_keep;
  }
  let namespacePrefix = '';
  if (raw.namespace_prefix !== undefined) {
    if (typeof raw.namespace_prefix !== 'string' || !/^[a-z0-9][a-z0-9_-]*$/.test(raw.namespace_prefix)) {
      c.error('namespace_prefix', `expected lower-case letters, digits, '_' and '-' starting with a letter or digit (e.g. ${node}-), got ${typeName(raw.namespace_prefix)}`);
    } else namespacePrefix = raw.namespace_prefix;
  }

  const destinations = new Map<string, DestinationConfig>();
  const rawDestinations = raw.destinations ?? {};
  if (!isObject(rawDestinations)) c.error('destinations', `expected a mapping of destination names, got ${typeName(rawDestinations)}`);
  const destinationNames = new Set<string>();
  if (isObject(rawDestinations)) {
    for (const [name, value] of Object.entries(rawDestinations)) {
      const keyPath = `destinations.${name}`;
      c.name(name, keyPath);
      destinationNames.add(name);
      const dest = validateDestination(c, name, value, keyPath);
      if (dest) destinations.set(name, dest);
    }
  }

  const volumes = new Map<string, VolumeConfig>();
  const rawVolumes = raw.volumes ?? {};
  if (!isObject(rawVolumes)) c.error('volumes', `expected a mapping of volume names, got ${typeName(rawVolumes)}`);
  if (isObject(rawVolumes)) {
    for (const [name, value] of Object.entries(rawVolumes)) {
      const keyPath = `volumes.${name}`;
      c.name(name, keyPath);
      const volume = validateVolume(c, name, value, keyPath, destinationNames, namespacePrefix);
      if (volume) volumes.set(name, volume);
    }
  }

  // Overlaps: a volume inside another volume, or a volume and a local destination nested
  // either way, would back a tree up into itself or index its own backups.
  const volumeList = [...volumes.values()];
  volumeList.forEach((volume, i) => {
    for (const other of volumeList.slice(i + 1)) {
      if (isInside(volume.path, other.path) || isInside(other.path, volume.path)) {
        c.error(`volumes.${other.name}.path`, `'${other.path}' overlaps volume '${volume.name}' (${volume.path}); volumes must not nest`);
      }
    }
    for (const dest of destinations.values()) {
      if (dest.type !== 'local') continue;
      if (isInside(volume.path, dest.path) || isInside(dest.path, volume.path)) {
        c.error(`volumes.${volume.name}.path`, `'${volume.path}' overlaps local destination '${dest.name}' (${dest.path}); keep backups outside the volume and vice versa`);
      }
    }
    if (db && isInside(db, volume.path)) {
      c.error('db', `'${db}' is inside volume '${volume.name}' (${volume.path}); keep the index outside every volume so it is never indexed, synced or offloaded`);
    }
  });
  // Two local destinations in one directory tree are one copy counted twice: offload would
  // believe it has two independent copies when it has one.
  const localList = [...destinations.values()].filter((d): d is LocalDestinationConfig => d.type === 'local');
  localList.forEach((dest, i) => {
    for (const other of localList.slice(i + 1)) {
      if (isInside(dest.path, other.path) || isInside(other.path, dest.path)) {
        c.error(`destinations.${other.name}.path`, `'${other.path}' overlaps local destination '${dest.name}' (${dest.path}); each destination must be its own directory tree`);
      }
    }
  });

  const peers = new Map<string, PeerConfig>();
  const rawPeers = raw.peers ?? {};
  if (!isObject(rawPeers)) c.error('peers', `expected a mapping of node names to { public_key: ed25519:... }, got ${typeName(rawPeers)}`);
  else {
    for (const [name, value] of Object.entries(rawPeers)) {
      const keyPath = `peers.${name}`;
      if (c.name(name, keyPath) === null) continue;
      if (name === node) c.error(keyPath, `is this node's own name; list other nodes here`);
      if (!isObject(value)) {
        c.error(keyPath, `expected { public_key: ed25519:... }, got ${typeName(value)}`);
        continue;
      }
      c.unknownKeys(value, ['public_key'], keyPath);
      const publicKey = c.string(value, 'public_key', keyPath, true);
      const problem = publicKey === null ? null : publicKeyProblem(publicKey);
      if (problem !== null) c.error(join(keyPath, 'public_key'), problem);
      else if (publicKey !== null) peers.set(name, { name, publicKey });
    }
  }

  // Two volumes in one namespace of a destination would push over each other's files.
  const namespaceOwners = new Map<string, string>();
  for (const volume of volumeList) {
    for (const [dest, namespace] of volume.namespaces) {
      const owner = namespaceOwners.get(`${dest}\0${namespace}`);
      if (owner !== undefined) {
        c.error(`volumes.${volume.name}`, `uses namespace '${namespace}' at destination '${dest}', like volume '${owner}'; give one of them its own with namespace:`);
      } else namespaceOwners.set(`${dest}\0${namespace}`, volume.name);
    }
  }
  // Network destinations that are one place or nest in each other (same server or service):
  // one copy counted twice. Local ones are compared by identity when a command starts.
  const remoteList = [...destinations.values()].filter((d) => d.type !== 'local');
  remoteList.forEach((dest, i) => {
    for (const other of remoteList.slice(i + 1)) {
      const overlap = remoteOverlap(dest, other);
      if (overlap) c.error(`destinations.${other.name}`, `${overlap} destination '${dest.name}'; each destination must be its own place`);
    }
  });

  if (c.errors.length > 0) return { errors: c.errors };
  return { config: { source: ctx.configPath, node, db, namespacePrefix, catalogKeep, volumes, destinations, peers } };
}
