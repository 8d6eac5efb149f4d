// Cleaning squirrel's own staging scratch at a destination. put() stages each file under
// `<namespace>/.squirrel-staging/run-<id>/` and removes it once placed, but a sync that was
// killed leaves its run's folder behind. A later sync removes the staging of runs known to be
// dead (their row is finished or aborted); a run still `running`, or one this index has no
// row for, is left alone: its process may be writing there now.

import { Destination, STAGING_DIR } from '../destinations/destination.js';
import { errorMessage } from '../errors.js';
import type { Store } from '../store/store.js';

export interface StagingCleanup {
  /** Run ids whose staging was removed. */
  runs: number[];
  removedFiles: number;
  /** Why cleaning stopped, when it did (a warning: scratch costs space, never correctness). */
  problem: string | null;
}

/** Remove the staging left by dead runs in `namespace` at `destination`. Never throws. */
export async function removeDeadStaging(store: Store, destination: Destination, namespace: string): Promise<StagingCleanup> {
  const cleanup: StagingCleanup = { runs: [], removedFiles: 0, problem: null };
  const stagingRoot = `${namespace}/${STAGING_DIR}`;
  try {
    const runIds = new Set<number>();
    for await (const file of destination.list(stagingRoot)) {
      const match = /^run-(\d+)\//.exec(file.path.slice(stagingRoot.length + 1));
      if (match) runIds.add(Number(match[1]));
    }
    for (const runId of [...runIds].sort((a, b) => a - b)) {
      const run = store.runs.get(runId);
      if (!run || run.status === 'running') continue;
      cleanup.removedFiles += await destination.removeStaging(`${stagingRoot}/run-${runId}`);
      cleanup.runs.push(runId);
    }
  } catch (err) {
    cleanup.problem = `could not remove leftover staging files at '${destination.name}': ${errorMessage(err)}`;
  }
  return cleanup;
}

/** Remove this run's own staging folder once its puts have all settled. Never throws. */
export async function removeOwnStaging(destination: Destination, namespace: string, runId: number): Promise<string | null> {
  try {
    await destination.removeStaging(`${namespace}/${STAGING_DIR}/run-${runId}`);
    return null;
  } catch (err) {
    return `could not remove this run's staging folder at '${destination.name}': ${errorMessage(err)}`;
  }
}
