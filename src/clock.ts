// The only place that reads the system clock. Domain code receives a Clock and captures
// one `nowNs` per invocation; tests pass a fixed clock. Ordering never uses this: run ids do.

export interface Clock {
  nowNs(): bigint;
}

export const systemClock: Clock = {
  nowNs: () => BigInt(Date.now()) * 1_000_000n,
};

export function fixedClock(nowNs: bigint): Clock {
  return { nowNs: () => nowNs };
}

/**
 * The clock a CLI invocation uses. SQUIRREL_TEST_NOW_NS pins it, so end-to-end tests can
 * judge evidence age against a known instant; it only moves "now", never evidence.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv): Clock {
  const pinned = env.SQUIRREL_TEST_NOW_NS;
  if (pinned && /^\d+$/.test(pinned)) return fixedClock(BigInt(pinned));
  return systemClock;
}

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SECOND = 1_000_000_000n;

/** A nanosecond timestamp as a Date, to the millisecond (conversion only; reads no clock). */
export function dateFromNs(ns: bigint): Date {
  return new Date(Number(ns / NS_PER_MS));
}

/** An ISO-8601 rendering of a nanosecond timestamp (formatting only; reads no clock). */
export function isoFromNs(ns: bigint): string {
  return dateFromNs(ns).toISOString();
}
