// offload (SPEC §5): plan from the index alone, stop there for a dry run or when nothing is
// selected, else take a run on the volume, re-check and unlink (execute.ts), and finish the run
// with its counts. The command only parses flags and renders what this returns.

import { VolumeConfig } from '../../config/types.js';
import { Destination } from '../../destinations/destination.js';
import { Store } from '../../store/store.js';
import { beginRun, RunContext } from '../runs.js';
import { Selector } from '../selectors.js';
import { executeOffload, OffloadOutcome } from './execute.js';
import { OffloadPlan, planOffload } from './plan.js';

export interface OffloadOptions extends RunContext {
  volume: VolumeConfig;
  selectors: Selector[];
  /** Only files whose indexed mtime is older than now minus this; null: any age. */
  olderThanMs: number | null;
  /** Plan and report; read nothing but the index, change nothing. */
  dryRun: boolean;
  /** Keep every blocked path for the report. */
  perFile: boolean;
  /** This node's name: only its own namespaces are counted. */
  node: string;
  /** A required destination, opened only when files are to be deleted. */
  openDestination: (name: string) => Destination;
}

export interface OffloadResult {
  plan: OffloadPlan;
  /** Null for a dry run and when nothing was selected. */
  outcome: OffloadOutcome | null;
  /** No selector matched a present file: nothing was judged or done. */
  nothingSelected: boolean;
}

export async function offloadVolume(store: Store, o: OffloadOptions): Promise<OffloadResult> {
  const plan = planOffload(store, o.volume, o.selectors, {
    olderThanMs: o.olderThanMs,
    nowNs: o.nowNs,
    thisNodeId: o.identity.nodeId,
    perFile: o.perFile,
    reporter: o.reporter,
    withHashes: !o.dryRun,
  });
  const nothingSelected = plan.candidates === 0 && plan.unmatchedSelectors.length === plan.selectors.length;
  if (nothingSelected || o.dryRun) return { plan, outcome: null, nothingSelected };

  const runId = beginRun(store, { ...o.identity, kind: 'offload', volumeId: plan.volumeId, destination: null, nowNs: o.nowNs });
  const destinations = new Map(plan.policy.requiredTargets.map((name) => [name, o.openDestination(name)]));
  const outcome = await executeOffload(store, plan, { runId, nowNs: o.nowNs, volume: o.volume, node: o.node, destinations, reporter: o.reporter, hooks: o.hooks });
  const counts = {
    offloaded: outcome.offloaded.length,
    not_durable: plan.refusedFiles + new Set(outcome.refused.map((r) => r.path)).size,
    drift: outcome.drift.length,
    errors: outcome.errors.length,
    // files whose evidence changed between the plan and the unlink, judged again on fresh rows
    reevaluated: outcome.reevaluated,
  };
  store.runs.finishRun(runId, outcome.errors.length > 0 ? 'partial' : 'success', counts, o.clock.nowNs());
  return { plan, outcome, nothingSelected };
}
