// `squirrel node show` (this node's name and public key, for a peer's `peers:` entry),
// `squirrel peers pull [--from DEST] [--peer NAME]` (apply trusted peers' attestations about
// this node's copies; offload and status do it first unless --offline), and the body of
// `squirrel verify --to DEST --peer NAME` (verify a peer's copies here and attest it).

import { CommandContext } from '../context.js';
import { defineCommand, defineGroup, option } from '../command.js';
import { VolumeConfig } from '../../config/types.js';
import { pullPeers, PullEvent, verifyForPeer } from '../../core/peers.js';
import { EXIT_OK, EXIT_OPERATIONAL, UsageError } from '../../errors.js';
import path from 'node:path';

const showCommand = defineCommand({
  name: 'show',
  description: "print this node's name and public key (for another node's peers: entry)",
  action: (ctx) => {
    const key = ctx.nodeKey();
    const node = ctx.config().node;
    ctx.emit({ node, public_key: key.publicKey }, () => [`node: ${node}`, `public_key: ${key.publicKey}`, '', 'On a node that should trust this one, add to its config:', 'peers:', `  ${node}:`, `    public_key: ${key.publicKey}`]);
  },
});

export const nodeCommand = defineGroup({ name: 'node', description: "this node's identity", commands: [showCommand] });

/** The destinations this node's volumes sync to (or only `from`), each with those volumes. */
function pullTargets(ctx: CommandContext, volumes: VolumeConfig[], from: string | undefined) {
  const config = ctx.config();
  if (from !== undefined && !config.destinations.has(from)) throw new UsageError(`--from ${from}: no such destination in ${config.source}`);
  const names = from !== undefined ? [from] : [...new Set(volumes.flatMap((v) => v.syncTo))];
  return names.map((name) => ({ destination: ctx.destination(name), volumes: volumes.filter((v) => v.syncTo.includes(name)) }));
}

/** Pull before offload or status, unless --offline or no peer is trusted. */
export async function pullBefore(ctx: CommandContext, volumes: VolumeConfig[], destinations: string[], offline: boolean): Promise<PullEvent[]> {
  const config = ctx.config();
  if (offline || config.peers.size === 0) return [];
  const targets = pullTargets(ctx, volumes, undefined).filter((t) => destinations.includes(t.destination.name));
  return pullPeers(ctx.store(), { destinations: targets, peers: config.peers, onlyPeer: null, node: config.node, nowNs: ctx.nowNs, identity: ctx.identity(), reporter: ctx.reporter });
}

const pullCommand = defineCommand({
  name: 'pull',
  description: "apply trusted peers' attestations about this node's copies (since the last applied)",
  options: {
    from: option.value('--from <destination>', 'only this destination'),
    peer: option.value('--peer <name>', 'only this peer'),
  },
  exitCodes: { also: { 1: 'when a destination could not be read (the others are still applied)' } },
  action: async (ctx, { from, peer }) => {
    const config = ctx.config();
    if (peer !== undefined && !config.peers.has(peer)) throw new UsageError(`--peer ${peer}: not a trusted peer; peers: ${[...config.peers.keys()].join(', ') || '(none: add one under peers: with the public key its `squirrel node show` prints)'}`);
    const events = await pullPeers(ctx.store(), {
      destinations: pullTargets(ctx, [...config.volumes.values()], from),
      peers: config.peers,
      onlyPeer: peer ?? null,
      node: config.node,
      nowNs: ctx.nowNs,
      identity: ctx.identity(),
      reporter: ctx.reporter,
    });
    const applied = events.filter((e) => e.outcome === 'applied');
    if (applied.length > 0) await ctx.publishCatalog(applied.map((e) => e.destination));
    const unreadable = events.filter((e) => e.outcome === 'unreadable');
    ctx.emit({ events }, () => [
      ...events.map((e) => `${e.outcome} ${e.peer ?? '-'}@${e.destination}${e.seq === null ? '' : ` #${e.seq}`}: ${e.detail}`),
      `applied=${applied.length} ignored=${events.length - applied.length - unreadable.length} unreadable=${unreadable.length}`,
    ]);
    return unreadable.length === 0 ? EXIT_OK : EXIT_OPERATIONAL;
  },
});

export const peersCommand = defineGroup({ name: 'peers', description: "trusted peers' attestations", commands: [pullCommand] });

/** `verify --to DEST --peer NAME`. */
export async function verifyPeerAction(ctx: CommandContext, to: string | undefined, peerName: string): Promise<number> {
  const config = ctx.config();
  if (to === undefined) throw new UsageError('verify --peer needs --to <destination>: the destination whose copies of that peer to verify');
  if (!config.destinations.has(to)) throw new UsageError(`--to ${to}: no such destination in ${config.source}`);
  const peer = config.peers.get(peerName);
  if (!peer) throw new UsageError(`--peer ${peerName}: not a trusted peer; add it under peers: with the public key its \`squirrel node show\` prints`);
  // A node that only verifies for its peers (a NAS) may have no database yet: this makes it.
  const result = await verifyForPeer(ctx.store({ create: true }), {
    destination: ctx.destination(to),
    peer,
    node: config.node,
    key: ctx.nodeKey(),
    nowNs: ctx.nowNs,
    identity: ctx.identity(),
    reporter: ctx.reporter,
    scratchDir: path.dirname(ctx.dbPath()),
  });
  ctx.emit(result, () => [
    ...result.namespaces.map((n) => `verify for ${result.peer} @ ${result.destination}: namespace '${n.namespace}' checked=${n.checked} ok=${n.ok} missing=${n.missing} corrupt=${n.corrupt}`),
    `attestation ${result.seq} published (catalog ${result.catalog}) run=${result.runId}`,
  ]);
  return result.namespaces.every((n) => n.missing + n.corrupt === 0 && n.ok === n.checked) ? EXIT_OK : EXIT_OPERATIONAL;
}
