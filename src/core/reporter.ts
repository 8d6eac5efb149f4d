// How the core tells the outside world what it is doing without touching the terminal:
// an injected Reporter receives progress counters and notices; the CLI renders them.

export interface Progress {
  phase: string;
  doneFiles: number;
  totalFiles: number | null;
  doneBytes: number;
  totalBytes: number | null;
}

export interface Reporter {
  progress(progress: Progress): void;
  /** Something the user should see even without --json (a skipped file, a refusal). */
  warn(message: string): void;
  /** Ordinary narration, suppressed by --quiet. */
  info(message: string): void;
}

export const silentReporter: Reporter = {
  progress: () => {},
  warn: () => {},
  info: () => {},
};

/**
 * Named pause points for crash and race tests. Production code calls `hooks.at(name)`
 * between steps; the default does nothing.
 */
export interface Hooks {
  at(point: string): void;
}

export const noHooks: Hooks = { at: () => {} };
