// sync --dry-run: what a sync would send, from the ledger alone; touches nothing. The ledger is
// walked beside the present rows, both in path order (path-cursor.ts), so neither is held whole
// at any size; should the walk fail (out of order), each copy is looked up on its own.

import { remotePathOf } from '../destinations/destination.js';
import { Store } from '../store/store.js';
import { PathCursor } from './path-cursor.js';

export interface PushPlan {
  sentFiles: number;
  sentBytes: number;
  alreadyThereFiles: number;
  /** What the vector would claim, per origin node. */
  coverage: { originNode: string; originRunId: number }[];
}

/** A file counts as there when the ledger holds a sound copy of its very bytes at its path in `namespace`. */
export async function planPush(store: Store, volumeId: number, namespace: string, destination: string): Promise<PushPlan> {
  const plan: PushPlan = { sentFiles: 0, sentBytes: 0, alreadyThereFiles: 0, coverage: [] };
  const ledger = new PathCursor(() => store.evidence.copyStatesUnder(volumeId, destination, namespace));
  try {
    for (const file of store.files.presentInPages(volumeId)) {
      const remotePath = remotePathOf(namespace, file.path);
      const walked = await ledger.find(remotePath);
      const copy = walked === undefined ? store.evidence.copy(volumeId, destination, remotePath) : walked;
      if (copy && copy.contentId === file.contentId && copy.state === 'ok') plan.alreadyThereFiles++;
      else {
        plan.sentFiles++;
        plan.sentBytes += file.size;
      }
    }
  } finally {
    await ledger.close();
  }
  plan.coverage = store.evidence.highestPresentOrigins(volumeId).map((c) => ({ originNode: store.nodeName(c.originNodeId), originRunId: c.originRunId }));
  return plan;
}
