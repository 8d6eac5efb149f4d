// Group commit for directory flushes. A put that renamed a file into a directory needs one flush
// of that directory that *starts after* the rename; callers arriving while a flush of the same
// directory runs share the next one, so puts landing together cost two flushes, not one each.

interface Slot {
  running: Promise<void>;
  /** The flush that starts when `running` ends; every caller since `running` began waits on it. */
  queued: Promise<void> | null;
}

export class GroupFlush {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly flushNow: (key: string) => Promise<void>) {}

  /** Resolves once a flush of `key` that began after this call has succeeded. */
  flush(key: string): Promise<void> {
    const slot = this.slots.get(key);
    if (slot === undefined) return this.start(key);
    slot.queued ??= slot.running.then(
      () => this.start(key),
      () => this.start(key),
    );
    return slot.queued;
  }

  private start(key: string): Promise<void> {
    const slot: Slot = { running: Promise.resolve(), queued: null };
    slot.running = this.flushNow(key).finally(() => {
      // A queued flush takes the slot over when it starts; an idle key leaves no state behind.
      if (this.slots.get(key) === slot && slot.queued === null) this.slots.delete(key);
    });
    this.slots.set(key, slot);
    return slot.running;
  }
}
