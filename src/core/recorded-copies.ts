// Is a file's copy already at the destination? The ledger says these bytes were read back at
// that path; one listing of the namespace says the path is still there with that size. Both are
// walked in path order beside the index's files (path-cursor.ts), so a sync with nothing to
// send asks the destination nothing per file: pages of ListObjectsV2, READDIRs, readdirs.

import { Destination, ListedFile } from '../destinations/destination.js';
import { Store } from '../store/store.js';
import { CopyStateRow, FileWithContent } from '../store/types.js';
import { PathCursor } from './path-cursor.js';

/**
 * there: recorded as these bytes and listed with their size (and, where the destination can
 * tell, as the very file that was read). ask: recorded, but the listing
 * cannot tell (out of order, failed): stat the copy. check: not recorded as these bytes, or not
 * listed with their size: read what is there, exactly as for a copy stat() finds absent. free:
 * not recorded and not listed: put it (put never replaces; if it refuses, check).
 */
export type CopyVerdict = 'there' | 'ask' | 'check' | 'free';

export class RecordedCopies {
  private readonly ledger: PathCursor<CopyStateRow>;
  private readonly listing: PathCursor<ListedFile>;

  constructor(
    private readonly store: Store,
    private readonly volumeId: number,
    private readonly destination: Destination,
    namespace: string,
  ) {
    this.ledger = new PathCursor(() => store.evidence.copyStatesUnder(volumeId, destination.name, namespace));
    this.listing = new PathCursor(() => destination.list(namespace)[Symbol.asyncIterator]());
  }

  /** Files must be judged in path order (the order `store.files.presentInPages` returns them in). */
  async verdict(file: FileWithContent, remotePath: string): Promise<CopyVerdict> {
    const row = await this.ledger.find(remotePath);
    const recorded = row === undefined ? this.store.evidence.copy(this.volumeId, this.destination.name, remotePath) : row;
    const listed = await this.listing.find(remotePath);
    if (!recorded || recorded.contentId !== file.contentId || recorded.state !== 'ok') return listed === null ? 'free' : 'check';
    if (listed === undefined) return 'ask';
    // A file put back at the path since it was read (a rolled-back snapshot, a cloned drive) has the size but not the fingerprint.
    const sameVersion = !recorded.fingerprint || listed?.fingerprint === undefined || listed.fingerprint === recorded.fingerprint;
    return listed !== null && listed.sizeBytes === file.size && sameVersion ? 'there' : 'check';
  }

  /** Why the listing stopped answering, for the report; null when it answered throughout. */
  get listingProblem(): string | null {
    return this.listing.broken;
  }

  async close(): Promise<void> {
    await Promise.all([this.ledger.close(), this.listing.close()]);
  }
}
