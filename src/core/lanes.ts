// Bounded concurrency for the per-file loops of sync and verify: items start in order, at most
// `lanes` at once, and no new one starts after one has thrown or `mayStart` says stop.

/**
 * Run work(0) .. work(count - 1) with at most `lanes` in flight. Resolves with how many were
 * started once all of those settled; rejects with the first error after the others settle.
 */
export async function inLanes(count: number, lanes: number, work: (index: number) => Promise<void>, mayStart: () => boolean = () => true): Promise<number> {
  let started = 0;
  let failed = false;
  const lane = async () => {
    while (started < count && !failed && mayStart()) {
      try {
        await work(started++);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(lanes, count)) }, lane));
  const rejected = settled.find((s) => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return started;
}
