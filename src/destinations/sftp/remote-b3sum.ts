// sftp with `remote_hash: b3sum`: the server hashes its copies itself. An exec per file costs a
// channel, a login shell and a process per file, slower than downloading small files; so hash()
// calls that arrive while an exec runs are gathered and go out as one `b3sum` over all their
// paths. Its output counts only when every line names, in order, exactly the path asked for;
// anything doubtful (an exit code, a line count, a name) is asked again one file per exec.

import type { Stats } from 'ssh2';
import { parseBlake3Hex } from '../../hash.js';
import { DestinationUnavailableError, HashResult, METHOD_REMOTE_B3SUM } from '../destination.js';
import type { Session, SftpConnection } from './connection.js';
import { mtimeFingerprint, type SftpRequests } from './requests.js';

/** remote b3sum gets this much extra time per byte of the files (a slow NAS disk: 20 MB/s). */
const B3SUM_MS_PER_MIB = 50;
/** Paths per exec, and characters of them: far below any server's command line limit. */
const MAX_BATCH_FILES = 128;
const MAX_BATCH_CHARS = 64 * 1024;

/** One argument for a POSIX shell: single-quoted, with embedded quotes closed and escaped. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** What the destination lends: its connection, its requests, and how it words "absent" and "not a file". */
export interface RemoteB3sumHost {
  readonly name: string;
  readonly where: string;
  readonly connection: SftpConnection;
  readonly requests: SftpRequests;
  /** Absent, once the root proved marked. */
  absent(s: Session): Promise<HashResult>;
  notAFile(relativePath: string, stats: Stats): DestinationUnavailableError;
}

interface Waiting {
  relativePath: string;
  absolute: string;
  resolve: (result: HashResult) => void;
  reject: (err: unknown) => void;
}

export class RemoteB3sum {
  private readonly queue: Waiting[] = [];
  private draining = false;

  constructor(private readonly host: RemoteB3sumHost) {}

  hash(relativePath: string, absolute: string): Promise<HashResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ relativePath, absolute, resolve, reject });
      if (this.draining) return;
      this.draining = true;
      // Callers that ask in the same turn of the event loop share the first exec.
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.settle(this.takeBatch());
    this.draining = false;
  }

  private takeBatch(): Waiting[] {
    const batch: Waiting[] = [];
    let chars = 0;
    while (this.queue.length > 0 && batch.length < MAX_BATCH_FILES) {
      const next = this.queue[0];
      if (batch.length > 0 && chars + next.absolute.length > MAX_BATCH_CHARS) break;
      chars += next.absolute.length;
      batch.push(this.queue.shift()!);
    }
    return batch;
  }

  /** Every waiting caller gets an answer: from the batch when it gave one, else from its own exec. */
  private async settle(batch: Waiting[]): Promise<void> {
    let answers: (HashResult | null)[] = [];
    if (batch.length > 1) {
      answers = await this.host.connection.withRetry('hash', batch[0].relativePath, (s) => this.many(s, batch)).catch(() => []);
    }
    await Promise.all(
      batch.map(async (waiting, i) => {
        try {
          waiting.resolve(answers[i] ?? (await this.host.connection.withRetry('hash', waiting.relativePath, (s) => this.one(s, waiting.relativePath, waiting.absolute))));
        } catch (err) {
          waiting.reject(err);
        }
      }),
    );
  }

  /** The batch's answers; null for each one it could not settle beyond doubt. */
  private async many(s: Session, batch: Waiting[]): Promise<(HashResult | null)[]> {
    const stats = await Promise.all(batch.map((waiting) => this.host.requests.lstat(s, waiting.absolute)));
    const answers: (HashResult | null)[] = batch.map(() => null);
    const files: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const found = stats[i];
      if (found === null) answers[i] = await this.host.absent(s);
      // Anything else is left to the file's own exec, which says what it is.
      else if (found.isFile()) files.push(i);
    }
    if (files.length === 0) return answers;
    const totalBytes = files.reduce((sum, i) => sum + stats[i]!.size, 0);
    const timeoutMs = this.host.connection.options.requestTimeoutMs + Math.ceil(totalBytes / (1024 * 1024)) * B3SUM_MS_PER_MIB;
    const expected = files.map((i) => batch[i].absolute);
    const result = await this.host.requests.exec(s, `b3sum -- ${expected.map(shellQuote).join(' ')}`, timeoutMs);
    const hashes = result.exitCode === 0 ? parseB3sumOutput(result.stdout, expected) : null;
    if (hashes === null) return answers;
    files.forEach((i, k) => (answers[i] = { kind: 'present', blake3: hashes[k], sizeBytes: stats[i]!.size, method: METHOD_REMOTE_B3SUM, fingerprint: mtimeFingerprint(stats[i]!) }));
    return answers;
  }

  private async one(s: Session, relativePath: string, absolute: string): Promise<HashResult> {
    const stats = await this.host.requests.lstat(s, absolute);
    if (stats === null) return this.host.absent(s);
    if (!stats.isFile()) throw this.host.notAFile(relativePath, stats);
    const timeoutMs = this.host.connection.options.requestTimeoutMs + Math.ceil(stats.size / (1024 * 1024)) * B3SUM_MS_PER_MIB;
    const result = await this.host.requests.exec(s, `b3sum --no-names -- ${shellQuote(absolute)}`, timeoutMs);
    if (result.exitCode === 127) {
      throw new DestinationUnavailableError(this.host.name, 'hash', `b3sum is not installed on ${this.host.where} (the config says remote_hash: b3sum); install it there or remove remote_hash`);
    }
    const hex = result.stdout.trim();
    const blake3 = parseBlake3Hex(hex);
    if (result.exitCode !== 0 || blake3 === null) {
      const said = (result.stderr.trim() || hex).split('\n')[0].slice(0, 200);
      throw new DestinationUnavailableError(this.host.name, 'hash', `${relativePath}: b3sum on ${this.host.where} exited ${result.exitCode ?? 'on a signal'}: ${said}`);
    }
    return { kind: 'present', blake3, sizeBytes: stats.size, method: METHOD_REMOTE_B3SUM, fingerprint: mtimeFingerprint(stats) };
  }
}

/**
 * The hashes in `b3sum -- paths...` output, or null unless there is exactly one line per path,
 * each `<64 hex>  <name>` naming that very path in order. A name with a backslash or newline
 * comes escaped (`\` before the line, `\\` and `\n` inside); any other escape is doubtful.
 */
export function parseB3sumOutput(stdout: string, expectedNames: string[]): Buffer[] | null {
  if (!stdout.endsWith('\n')) return null;
  const lines = stdout.slice(0, -1).split('\n');
  if (lines.length !== expectedNames.length) return null;
  const hashes: Buffer[] = [];
  for (let k = 0; k < lines.length; k++) {
    const escaped = lines[k].startsWith('\\');
    const body = escaped ? lines[k].slice(1) : lines[k];
    const blake3 = parseBlake3Hex(body.slice(0, 64));
    if (blake3 === null || body.slice(64, 66) !== '  ') return null;
    const name = escaped ? unescapeName(body.slice(66)) : body.slice(66);
    if (name !== expectedNames[k]) return null;
    hashes.push(blake3);
  }
  return hashes;
}

const ESCAPES: Record<string, string> = { '\\': '\\', n: '\n' };

function unescapeName(text: string): string | null {
  let name = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      name += text[i];
      continue;
    }
    const escape = ESCAPES[text[++i]];
    if (escape === undefined) return null;
    name += escape;
  }
  return name;
}
