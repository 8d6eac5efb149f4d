// Group commit for directory flushes: every caller's flush must start after its call (else a
// rename it made may not be on disk when put() returns), and callers that wait together share
// one flush.

import { describe, expect, it } from 'vitest';
import { GroupFlush } from '../../src/destinations/local/group-flush.js';

/** A flush function whose flushes the test starts and ends by hand. */
function manualFlushes() {
  const started: { key: string; callsBefore: number; finish: (err?: Error) => void }[] = [];
  let calls = 0;
  const group = new GroupFlush(
    (key) =>
      new Promise<void>((resolve, reject) => {
        started.push({ key, callsBefore: calls, finish: (err) => (err ? reject(err) : resolve()) });
      }),
  );
  const flush = (key: string) => {
    calls++;
    const settled = { done: false, error: null as Error | null, callNumber: calls };
    group.flush(key).then(
      () => void (settled.done = true),
      (err: Error) => void (settled.error = err),
    );
    return settled;
  };
  return { started, flush };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupFlush', () => {
  it('flushes at once when nothing of that directory is in flight', async () => {
    // setup
    const { started, flush } = manualFlushes();
    // act
    const first = flush('d');
    await tick();
    // expect
    expect(started.map((s) => s.key)).toEqual(['d']);
    started[0].finish();
    await tick();
    expect(first.done).toBe(true);
  });

  it('never lets a caller ride a flush that began before its call; later callers share one flush', async () => {
    // setup: a flush of d is running
    const { started, flush } = manualFlushes();
    const first = flush('d');
    await tick();
    // act: three more puts need d while it runs
    const waiting = [flush('d'), flush('d'), flush('d')];
    started[0].finish();
    await tick();
    // expect: the running flush ends only the first caller; one new flush starts for the other three
    expect(first.done).toBe(true);
    expect(waiting.map((w) => w.done)).toEqual([false, false, false]);
    expect(started).toHaveLength(2);
    expect(started[1].callsBefore).toBe(4);
    started[1].finish();
    await tick();
    expect(waiting.map((w) => w.done)).toEqual([true, true, true]);
    expect(started).toHaveLength(2);
  });

  it('a caller arriving while the shared flush runs waits for the one after it', async () => {
    // setup
    const { started, flush } = manualFlushes();
    flush('d');
    await tick();
    const second = flush('d');
    started[0].finish();
    await tick();
    // act: a call while the second flush runs
    const third = flush('d');
    started[1].finish();
    await tick();
    // expect
    expect(second.done).toBe(true);
    expect(third.done).toBe(false);
    expect(started).toHaveLength(3);
    expect(started[2].callsBefore).toBe(third.callNumber);
    started[2].finish();
    await tick();
    expect(third.done).toBe(true);
  });

  it('keeps directories apart', async () => {
    // setup
    const { started, flush } = manualFlushes();
    // act
    const a = flush('a');
    const b = flush('b');
    await tick();
    // expect: both run at once; ending one ends only its callers
    expect(started.map((s) => s.key)).toEqual(['a', 'b']);
    started[1].finish();
    await tick();
    expect([a.done, b.done]).toEqual([false, true]);
  });

  it('hands a failed flush to each of its callers, and the next caller gets a fresh flush', async () => {
    // setup
    const { started, flush } = manualFlushes();
    flush('d');
    await tick();
    const sharers = [flush('d'), flush('d')];
    started[0].finish();
    await tick();
    // act: the shared flush fails
    started[1].finish(new Error('EIO'));
    await tick();
    // expect
    expect(sharers.map((s) => s.error?.message)).toEqual(['EIO', 'EIO']);
    const after = flush('d');
    await tick();
    expect(started).toHaveLength(3);
    started[2].finish();
    await tick();
    expect(after.done).toBe(true);
  });

  it('a failed running flush still starts the queued one', async () => {
    // setup
    const { started, flush } = manualFlushes();
    const first = flush('d');
    await tick();
    const second = flush('d');
    // act
    started[0].finish(new Error('EIO'));
    await tick();
    // expect
    expect(first.error?.message).toBe('EIO');
    expect(started).toHaveLength(2);
    started[1].finish();
    await tick();
    expect(second.done).toBe(true);
  });
});
