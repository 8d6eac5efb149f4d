// What stands at a destination where sync must put a file: a file at one of its folders' paths
// (the local file `a` became a folder `a/`), or a folder at its own path (the local folder `a/`
// became a file `a`). Either used to make every later sync fail on that path, so the evidence
// never advanced. The obstacle is moved into this run's history, never deleted: each file
// moved is hashed first and recorded at its history path (the ledger records only what was
// read), and the rows at the old paths are marked missing (they are gone from there).

import { Destination, DestinationUnavailableError, historyPathOf, remotePathOf } from '../destinations/destination.js';
import type { Store } from '../store/store.js';

export interface ObstacleContext {
  store: Store;
  volumeId: number;
  destination: Destination;
  namespace: string;
  runId: number;
  nowNs: bigint;
}

/** Hash the file at `remotePath`, record it at `historyPath` when the index knows its bytes. */
async function recordBeforeMove(c: ObstacleContext, remotePath: string, historyPath: string): Promise<void> {
  const read = await c.destination.hash(remotePath);
  if (read.kind !== 'present') return;
  const content = c.store.files.content(read.blake3);
  if (content && content.size === read.sizeBytes) {
    c.store.immediate(() => c.store.evidence.recordVerifiedCopy(c.volumeId, c.destination.name, historyPath, content.id, c.runId, c.nowNs));
  }
}

/** The ledger's rows at `remotePath` or under it are gone from there: missing. */
function markGone(c: ObstacleContext, remotePath: string): void {
  const gone = c.store.evidence.copiesAtOrUnder(c.volumeId, c.destination.name, remotePath);
  c.store.immediate(() => {
    for (const copy of gone) c.store.evidence.markCopy(c.volumeId, c.destination.name, copy.path, 'missing', null, copy.version, c.runId);
  });
}

/** A file where one of the folders of `relativePath` must be; its volume-relative path, or null. */
async function fileAboveOf(c: ObstacleContext, relativePath: string): Promise<string | null> {
  const segments = relativePath.split('/');
  for (let depth = 1; depth < segments.length; depth++) {
    const above = segments.slice(0, depth).join('/');
    let stat;
    try {
      stat = await c.destination.stat(remotePathOf(c.namespace, above));
    } catch (err) {
      if (err instanceof DestinationUnavailableError) continue; // a folder there (or no answer): look deeper
      throw err;
    }
    if (stat.kind === 'absent') return null;
    return above;
  }
  return null;
}

/**
 * Move aside what stands where `relativePath` must go. Returns the volume-relative path that
 * was moved (a folder's ends with '/'), or null when nothing recognisable stands there.
 */
export async function moveObstacleAside(c: ObstacleContext, relativePath: string): Promise<string | null> {
  const above = await fileAboveOf(c, relativePath);
  if (above !== null) {
    const remote = remotePathOf(c.namespace, above);
    const history = historyPathOf(c.namespace, c.runId, above);
    await recordBeforeMove(c, remote, history);
    await c.destination.moveAside(remote, history);
    markGone(c, remote);
    return above;
  }
  const remote = remotePathOf(c.namespace, relativePath);
  const inside: string[] = [];
  for await (const file of c.destination.list(remote)) inside.push(file.path);
  if (inside.length === 0) return null;
  const historyOf = (file: string) => historyPathOf(c.namespace, c.runId, relativePath) + file.slice(remote.length);
  for (const file of inside) await recordBeforeMove(c, file, historyOf(file));
  // Where folders exist (local, sftp) the folder moves whole; where they do not (s3), nothing is
  // at the folder's own key and each file is moved on its own (moving an absent file is a no-op).
  await c.destination.moveAside(remote, historyPathOf(c.namespace, c.runId, relativePath));
  for (const file of inside) await c.destination.moveAside(file, historyOf(file));
  markGone(c, remote);
  return `${relativePath}/`;
}
