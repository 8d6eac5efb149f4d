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
  readonly source: string;
  constructor(problems: string[], source: string) {
    super('config', `invalid configuration in ${source}:\n  ${problems.join('\n  ')}`, EXIT_USAGE);
    this.problems = problems;
    this.source = source;
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

/** What an errno means for a user, in words; the code itself stays beside it for searching. */
const ERRNO_MEANINGS: Record<string, string> = {
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left: the disk is full',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  EEXIST: 'something already exists there',
  ENOTEMPTY: 'the folder is not empty',
  EIO: 'input/output error (a failing disk, cable or connection)',
  ENXIO: 'the device is not there (unplugged?)',
  ENODEV: 'the device is not there (unplugged?)',
  ESTALE: 'stale file handle (the network share was remounted)',
  ENOTCONN: 'not connected (the network share dropped?)',
  ETIMEDOUT: 'timed out',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENAMETOOLONG: 'the name is too long for this file system',
  ELOOP: 'too many symbolic links (a link loop?)',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EBUSY: 'busy (in use, or a mount point)',
  EXDEV: 'it would cross file systems',
  EFBIG: 'the file is too large for this file system',
  EMLINK: 'too many links',
  ENOTSUP: 'not supported by this file system',
  EOPNOTSUPP: 'not supported by this file system',
  EAGAIN: 'temporarily unavailable; try again',
};

/** "the file system is read-only (EROFS)" for a known errno code, else the code alone. */
export function errnoMeaning(code: string): string {
  const meaning = ERRNO_MEANINGS[code];
  return meaning ? `${meaning} (${code})` : code;
}

/**
 * A short reason: for a failed system call its errno in words ("the file system is read-only
 * (EROFS)") without the path Node appends; anything else, its message.
 */
export function errorDetail(err: unknown): string {
  const code = errnoCode(err);
  if (code && (err as NodeJS.ErrnoException).syscall) return ERRNO_MEANINGS[code] ? errnoMeaning(code) : errorMessage(err).split(', ')[0];
  return errorMessage(err);
}

/** errorDetail, with the path a failed system call names: "/mnt/x: permission denied (EACCES)". */
export function errorWithPath(err: unknown): string {
  const failedAt = (err as NodeJS.ErrnoException | null)?.path;
  return errnoCode(err) && typeof failedAt === 'string' ? `${failedAt}: ${errorDetail(err)}` : errorDetail(err);
}

/** The errno code alone ('EACCES'), or the message of anything else: the shortest reason. */
export function errnoOrMessage(err: unknown): string {
  return errnoCode(err) ?? errorMessage(err);
}
