// The s3 destination's bound on upload memory: many small bodies at once, large ones in turn,
// and never more bytes held than the budget unless one holder alone needs more.

import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/destinations/s3/writes.js';

describe('ByteBudget', () => {
  it('lets holders in, in order, only while their bytes fit; one alone may exceed it', async () => {
    // setup
    const budget = new ByteBudget(100);
    let heldBytes = 0;
    let mostHeldBytes = 0;
    const order: string[] = [];
    const hold = (name: string, bytes: number) =>
      budget.use(bytes, async () => {
        heldBytes += bytes;
        mostHeldBytes = Math.max(mostHeldBytes, heldBytes);
        order.push(name);
        await new Promise((resolve) => setTimeout(resolve, 5));
        heldBytes -= bytes;
      });

    // act
    await Promise.all([hold('a', 30), hold('b', 30), hold('c', 30), hold('big', 500), hold('d', 10), hold('e', 10)]);

    // expect: three small ones at once, the big one alone, then the rest (none overtook it)
    expect(order).toEqual(['a', 'b', 'c', 'big', 'd', 'e']);
    expect(mostHeldBytes).toBe(500);
    expect(heldBytes).toBe(0);
  });

  it('releases the bytes of a holder that throws', async () => {
    // setup
    const budget = new ByteBudget(10);
    // act
    await expect(budget.use(10, async () => Promise.reject(new Error('upload failed')))).rejects.toThrow('upload failed');
    // expect
    await expect(budget.use(10, async () => 'next')).resolves.toBe('next');
  });
});
