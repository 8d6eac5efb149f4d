// Typed errors. Every failure a user can meet is a SquirrelError with a stable code,
// a message that says what to do, and the exit code it maps to. Only src/cli/main.ts
// turns these into process exit codes; anything else is an internal error.

export const EXIT_OK = 0;
export const EXIT_OPERATIONAL = 1;
export const EXIT_USAGE = 2;
export const EXIT_REFUSED_STRICT = 3;

export class SquirrelError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad flags, arguments or selectors: exit 2. */
export class UsageError extends SquirrelError {
  constructor(message: string, code = 'usage') {
    super(code, message, EXIT_USAGE);
  }
}

/** Invalid configuration: exit 2, with every problem listed by key path. */
export class ConfigError extends SquirrelError {
  readonly problems: string[];
  constructor(problems: string[], source: string) {
    super('config', `invalid configuration in ${source}:\n  ${problems.join('\n  ')}`, EXIT_USAGE);
    this.problems = problems;
  }
}

/** The database cannot be used (not ours, newer than this binary, corrupt): exit 2. */
export class DatabaseError extends SquirrelError {
  constructor(message: string, code = 'database') {
    super(code, message, EXIT_USAGE);
  }
}

/** Something failed while doing the work (I/O, a destination, a busy volume): exit 1. */
export class OperationalError extends SquirrelError {
  constructor(message: string, code = 'operational') {
    super(code, message, EXIT_OPERATIONAL);
  }
}

/** Another writing run holds the volume. */
export class VolumeBusyError extends OperationalError {
  constructor(message: string) {
    super(message, 'volume-busy');
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The errno code of a failed system call ('ENOENT'), or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The errno code alone ('EACCES'), or the message of anything else: the shortest reason. */
export function errnoOrMessage(err: unknown): string {
  return errnoCode(err) ?? errorMessage(err);
}

/** A short reason: "ENOENT: no such file or directory" without the path Node appends. */
export function errorDetail(err: unknown): string {
  const message = errorMessage(err);
  return errnoCode(err) && (err as NodeJS.ErrnoException).syscall ? message.split(', ')[0] : message;
}
