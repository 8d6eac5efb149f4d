// Verification methods recorded on vector components. Only a method that compared the
// stored bytes themselves counts as content-verified for the offload gate.

export const METHOD_READBACK = 'blake3-readback';
export const METHOD_REVERIFY = 'blake3-reverify';
export const METHOD_REMOTE_B3SUM = 'b3sum-remote';

export const CONTENT_VERIFIED_METHODS: ReadonlySet<string> = new Set([METHOD_READBACK, METHOD_REVERIFY, METHOD_REMOTE_B3SUM]);

export function isContentVerified(method: string): boolean {
  return CONTENT_VERIFIED_METHODS.has(method);
}
