// sync --dry-run: what a sync would send, from the ledger alone; touches nothing. The ledger is
// walked beside the present rows, both in path order (LedgerWalk), so neither is held whole.

import { remotePathOf } from '../destinations/destination.js';
import { Store } from '../store/store.js';
import { LedgerWalk } from './recorded-copies.js';

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
  const ledger = new LedgerWalk(store, volumeId, destination, namespace);
  try {
    for (const file of store.files.presentInPages(volumeId)) {
      const copy = await ledger.at(remotePathOf(namespace, file.path));
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
