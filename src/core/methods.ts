// Verification methods recorded on vector components. Only a method that compared the
// stored bytes themselves counts as content-verified for the offload gate. The methods a
// destination's hash() reports are the destination layer's; verify adds its own re-read.

import { METHOD_READBACK, METHOD_REMOTE_B3SUM } from '../destinations/destination.js';

export const METHOD_REVERIFY = 'blake3-reverify';

export const CONTENT_VERIFIED_METHODS: ReadonlySet<string> = new Set([METHOD_READBACK, METHOD_REVERIFY, METHOD_REMOTE_B3SUM]);

export function isContentVerified(method: string): boolean {
  return CONTENT_VERIFIED_METHODS.has(method);
}
