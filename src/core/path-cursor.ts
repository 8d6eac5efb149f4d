// Walking a sequence sorted by path (the ledger, a destination's listing) in step with the index's
// files, also in path order: the two are merged without a map of either, so memory stays flat
// at any size. A sequence that turns out out of order, or fails while read, is not used any
// further: the caller then asks the other way, as it would without the sequence.

import { compareByCodePoint } from '../paths.js';

export class PathCursor<T extends { path: string }> {
  private held: T | null = null;
  private exhausted = false;
  private lastSought: string | null = null;
  private lastSeen: string | null = null;
  /** Why the sequence can no longer answer (out of order, failed); null while it can. */
  broken: string | null = null;

  constructor(
    private readonly open: () => AsyncIterator<T> | Iterator<T>,
    /** Told of every item the cursor moves past, matched or not, in order. */
    private readonly onPass: (item: T) => void = () => {},
  ) {}

  private source: AsyncIterator<T> | Iterator<T> | null = null;

  /**
   * The item at exactly `path`; null when the sequence has none there; undefined when it cannot
   * tell. Paths must be asked in increasing code point order. Only an exact match is ever an answer.
   */
  async find(path: string): Promise<T | null | undefined> {
    if (this.broken !== null) return undefined;
    if (this.lastSought !== null && compareByCodePoint(path, this.lastSought) <= 0) return this.fail(`asked for ${JSON.stringify(path)} after ${JSON.stringify(this.lastSought)}`);
    this.lastSought = path;
    for (;;) {
      if (this.held === null) {
        if (this.exhausted) return null;
        let next: IteratorResult<T>;
        try {
          this.source ??= this.open();
          const pending = this.source.next();
          next = pending instanceof Promise ? await pending : pending;
        } catch (err) {
          return this.fail(err instanceof Error ? err.message : String(err));
        }
        if (next.done) {
          this.exhausted = true;
          return null;
        }
        if (this.lastSeen !== null && compareByCodePoint(next.value.path, this.lastSeen) <= 0) {
          return this.fail(`${JSON.stringify(next.value.path)} came after ${JSON.stringify(this.lastSeen)}`);
        }
        this.lastSeen = next.value.path;
        this.held = next.value;
      }
      const order = compareByCodePoint(this.held.path, path);
      if (order === 0) {
        const found = this.held;
        this.held = null;
        this.onPass(found);
        return found;
      }
      if (order > 0) return null;
      this.onPass(this.held);
      this.held = null;
    }
  }

  /**
   * Right after find() answered null: the first item after the path asked, null when the
   * sequence has ended (every item of it having come in order), undefined when it cannot tell.
   */
  following(): T | null | undefined {
    if (this.broken !== null) return undefined;
    return this.held ?? (this.exhausted ? null : undefined);
  }

  /** Let go of the sequence (a listing stopped early releases what it holds). */
  async close(): Promise<void> {
    const source = this.source;
    this.source = null;
    this.exhausted = true;
    this.held = null;
    try {
      await source?.return?.();
    } catch {
      // a listing that fails while closing has nothing left to say
    }
  }

  private fail(reason: string): undefined {
    this.broken = reason;
    this.held = null;
    return undefined;
  }
}
