// Is a file's copy already at the destination? The ledger says these bytes were read back at
// that path; one listing of the namespace says the path is still there with that size. Both are
// walked in path order beside the index's files (path-cursor.ts), so a sync with nothing to
// send asks the destination nothing per file: pages of ListObjectsV2, READDIRs, readdirs.

import { Destination, ListedFile } from '../destinations/destination.js';
import { Store } from '../store/store.js';
import { PresentFile } from '../store/files.js';
import { CopyStateRow, RemoteCopyRow } from '../store/types.js';
import { compareByCodePoint } from '../paths.js';
import { PathCursor } from './path-cursor.js';

/** Listed files kept as possible folders of later paths; past this many, no path is called clear. */
const MAX_OPEN_FILES = 256;

/**
 * there: recorded as these bytes and listed with their size (and, where the destination can
 * tell, as the very file that was read). ask: recorded, but the listing
 * cannot tell (out of order, failed): stat the copy. check: not recorded as these bytes, or not
 * listed with their size: read what is there, exactly as for a copy stat() finds absent. free:
 * not recorded and not listed: put it (put never replaces; if it refuses, check). clear: free,
 * and the whole listing, read in order to its end, shows nothing below the path and no file at a
 * folder above it, so put may skip asking the destination the same again (PutHint).
 */
export type CopyVerdict = 'there' | 'ask' | 'check' | 'free' | 'clear';

/**
 * The ledger's rows under a namespace, walked in path order; where the walk cannot answer
 * (out of order), the row at the path is looked up on its own.
 */
export class LedgerWalk {
  private readonly cursor: PathCursor<CopyStateRow>;

  constructor(
    private readonly store: Store,
    private readonly volumeId: number,
    private readonly destination: string,
    namespace: string,
  ) {
    this.cursor = new PathCursor(() => store.evidence.copyStatesUnder(volumeId, destination, namespace));
  }

  /** The ledger's row at `remotePath`, if any. Paths must be asked in increasing code point order. */
  async at(remotePath: string): Promise<CopyStateRow | RemoteCopyRow | undefined> {
    const walked = await this.cursor.find(remotePath);
    return walked === undefined ? this.store.evidence.copy(this.volumeId, this.destination, remotePath) : (walked ?? undefined);
  }

  close(): Promise<void> {
    return this.cursor.close();
  }
}

export class RecordedCopies {
  private readonly ledger: LedgerWalk;
  private readonly listing: PathCursor<ListedFile>;
  /** Listed files the listing has moved past whose folder-to-be (`path/`) a later path could still be in. */
  private openFiles: string[] = [];
  private tooManyOpenFiles = false;

  /** `expectedFiles`: how many files the namespace should hold (a hint for the listing). */
  constructor(store: Store, volumeId: number, destination: Destination, namespace: string, expectedFiles: number) {
    this.ledger = new LedgerWalk(store, volumeId, destination.name, namespace);
    this.listing = new PathCursor(
      () => destination.list(namespace, { files: expectedFiles })[Symbol.asyncIterator](),
      (listed) => {
        this.closeFoldersBefore(listed.path);
        if (this.openFiles.length < MAX_OPEN_FILES) this.openFiles.push(listed.path);
        else this.tooManyOpenFiles = true;
      },
    );
  }

  /** Files must be judged in path order (the order `store.files.presentInPages` returns them in). */
  async verdict(file: PresentFile, remotePath: string): Promise<CopyVerdict> {
    const recorded = await this.ledger.at(remotePath);
    const listed = await this.listing.find(remotePath);
    if (!recorded || recorded.contentId !== file.contentId || recorded.state !== 'ok') return listed === null ? this.freeOrClear(remotePath) : 'check';
    if (listed === undefined) return 'ask';
    // A file put back at the path since it was read (a rolled-back snapshot, a cloned drive) has the size but not the fingerprint.
    const sameVersion = !recorded.fingerprint || listed?.fingerprint === undefined || listed.fingerprint === recorded.fingerprint;
    return listed !== null && listed.sizeBytes === file.size && sameVersion ? 'there' : 'check';
  }

  /**
   * Not listed: clear when the listing has ended after this path, every item of it having come
   * in order (so nothing can still turn up at or below the path: some services sort only within
   * a page, and a later page may hold a key that sorts earlier), and no listed file is one of
   * the path's folders (those sort before it: the files moved past are kept while a later path
   * may still lie below them). Anything less leaves it merely free.
   */
  private freeOrClear(remotePath: string): 'free' | 'clear' {
    this.closeFoldersBefore(remotePath);
    if (this.tooManyOpenFiles || this.openFiles.some((openFile) => remotePath.startsWith(`${openFile}/`))) return 'free';
    return this.listing.following() === null ? 'clear' : 'free';
  }

  /** Paths are seen in increasing order: once one is past `file0`, nothing later lies below `file/`. */
  private closeFoldersBefore(path: string): void {
    this.openFiles = this.openFiles.filter((openFile) => compareByCodePoint(path, `${openFile}0`) < 0);
  }

  /** Why the listing stopped answering, for the report; null when it answered throughout. */
  get listingProblem(): string | null {
    return this.listing.broken;
  }

  async close(): Promise<void> {
    await Promise.all([this.ledger.close(), this.listing.close()]);
  }
}
