// The last look at the destinations before an unlink (SPEC §7.4): every required destination
// must show the copy the decision relies on: there, of the indexed size, and (local ones) not the
// file being deleted nor another destination's copy. A miss is a `copy-not-found` refusal.

import { VolumeConfig } from '../../config/types.js';
import { Destination, remotePathOf } from '../../destinations/destination.js';
import { errorMessage } from '../../errors.js';
import { Store } from '../../store/store.js';
import { namespaceOf, openNamespace } from '../namespace.js';
import { AllowedFile, OffloadPlan } from './plan.js';

/** A required destination could not show its copy of the file just before the unlink: the file is kept. */
export interface CopyRefusal {
  path: string;
  target: string;
  reason: 'copy-not-found';
  detail: string;
}

/** What the finder needs beyond the plan. */
export interface CopyFinderOptions {
  volume: VolumeConfig;
  /** This node's name: only its own namespaces are counted. */
  node: string;
  /** Every required destination, by name. */
  destinations: ReadonlyMap<string, Destination>;
  nowNs: bigint;
}

export interface CopyFinder {
  /** Each required destination's copy of the file's bytes; the refusals for those without one. */
  find(file: AllowedFile, localIdentity: string): Promise<CopyRefusal[]>;
}

/**
 * Checks each required destination once (its marker, this volume's namespace), then for each
 * file looks for a copy the ledger records as sound there: present, of the indexed size, and,
 * where the destination can tell (local), the very file whose bytes were read (its fingerprint),
 * a physical file other than the one being deleted and other than the copy counted for another
 * destination. The file's own path is tried first.
 */
export async function copyFinder(store: Store, plan: OffloadPlan, o: CopyFinderOptions): Promise<CopyFinder> {
  const problems = new Map<string, string>();
  for (const target of plan.policy.requiredTargets) {
    const destination = o.destinations.get(target);
    if (!destination) {
      problems.set(target, `destination '${target}' was not opened`);
      continue;
    }
    try {
      await openNamespace(store, destination, { volume: o.volume, node: o.node, write: false, init: false, nowNs: o.nowNs, notes: [] });
    } catch (err) {
      problems.set(target, errorMessage(err));
    }
  }
  return {
    async find(file, localIdentity) {
      const refusals: CopyRefusal[] = [];
      const counted = new Set<string>([localIdentity]);
      for (const target of plan.policy.requiredTargets) {
        const refuse = (detail: string) => refusals.push({ path: file.path, target, reason: 'copy-not-found', detail });
        const problem = problems.get(target);
        if (problem !== undefined) {
          refuse(problem);
          continue;
        }
        const destination = o.destinations.get(target)!;
        const ownPath = remotePathOf(namespaceOf(o.volume, target), file.path);
        const candidates = store.evidence
          .copiesOf(plan.volumeId, target, file.contentId)
          .filter((copy) => copy.state === 'ok')
          .sort((a, b) => Number(b.path === ownPath) - Number(a.path === ownPath));
        const misses: string[] = [];
        let found = false;
        for (const copy of candidates) {
          try {
            const stat = await destination.stat(copy.path);
            if (stat.kind === 'absent') misses.push(`${copy.path} is absent`);
            else if (stat.sizeBytes !== file.sizeBytes) misses.push(`${copy.path} has ${stat.sizeBytes} bytes, not ${file.sizeBytes}`);
            else if (copy.fingerprint && stat.fingerprint !== undefined && stat.fingerprint !== copy.fingerprint) {
              misses.push(
                `${copy.path} is not the file whose bytes were read there (another file of the same size was put at that path since: a snapshot rolled back, a folder's previous version restored, another drive); \`squirrel verify ${o.volume.name} --to ${target}\` reads it again`,
              );
            } else if (stat.identity !== undefined && counted.has(stat.identity)) {
              misses.push(`${copy.path} is the same physical file as ${stat.identity === localIdentity ? 'the local file' : "another destination's copy"}`);
            } else {
              if (stat.identity !== undefined) counted.add(stat.identity);
              found = true;
              break;
            }
          } catch (err) {
            misses.push(`${copy.path}: could not check (${errorMessage(err)})`);
          }
        }
        // No sound copy in the ledger at all is the evidence's verdict, not the disk's: the
        // judgement on fresh rows just before the unlink refuses it (as changed evidence).
        if (!found && candidates.length > 0) refuse(misses.join('; '));
      }
      return refusals;
    },
  };
}
