// The offload policy: the one object that says what "durable enough to delete" means for a
// volume. It is built from the validated config and handed to the gate unchanged, so every
// file in an invocation is judged by the same rules.

import { NS_PER_MS, NS_PER_SECOND } from '../../clock.js';
import type { VolumeConfig } from '../../config/types.js';
import { UsageError } from '../../errors.js';

/**
 * How far in the future a `verified_at_ns` may lie before it is refused. Evidence stamped by
 * a peer whose clock runs a little fast is normal (NTP keeps hosts within seconds, laptops
 * waking from sleep drift by a minute or two); evidence from further ahead means a broken
 * clock, and a broken clock could make stale evidence look fresh for as long as it is wrong.
 */
export const DEFAULT_SKEW_TOLERANCE_NS = 5n * 60n * NS_PER_SECOND;

export interface OffloadPolicy {
  /** The volume the policy belongs to (named in the `next:` acts). */
  volume: string;
  /** Destinations that must each hold provably durable bytes before a file is deleted. */
  requiredTargets: string[];
  /** Opt-in maximum age of a component's `verified_at_ns`; null: no age check at all. */
  maxEvidenceAgeNs: bigint | null;
  /** How far in the future `verified_at_ns` may be before it counts as a broken clock. */
  skewToleranceNs: bigint;
}

/** The policy of a volume; refuses (exit 2) when the config does not allow offloading it. */
export function policyFromVolume(volume: VolumeConfig, skewToleranceNs: bigint = DEFAULT_SKEW_TOLERANCE_NS): OffloadPolicy {
  if (!volume.offloadRequires || volume.offloadRequires.length === 0) {
    throw new UsageError(
      `volume '${volume.name}' has no offload_requires, so offload refuses to delete anything from it; ` +
        `add \`offload_requires: [<destination>, ...]\` under volumes.${volume.name} naming every destination ` +
        `that must hold a file before its local copy may be deleted`,
      'offload-not-configured',
    );
  }
  return {
    volume: volume.name,
    requiredTargets: [...volume.offloadRequires],
    maxEvidenceAgeNs: volume.offloadMaxEvidenceAgeMs === null ? null : BigInt(volume.offloadMaxEvidenceAgeMs) * NS_PER_MS,
    skewToleranceNs,
  };
}
