// A volume's walk on a worker thread (walk-worker.ts): its ~0.6 s of readdir and lstat calls
// per 10^5 files run beside the index's reading and writing of rows. The events are the
// walk's own, in the same order. Without the compiled worker script (tests of the TypeScript
// sources) there is no thread and the caller walks in-thread.

import { excludeMatcher } from '../../config/exclude.js';
import { pagesFromWorker } from '../../thread-pages.js';
import { WalkEvent, WalkOptions } from './walk.js';

/** What the worker is asked to walk (its workerData): the walk's options, the patterns as written. */
export interface WalkRequest {
  root: string;
  excludeAbsolutePaths: string[];
  exclude: string[];
}

/** The walk's options for a request, on whichever thread walks. */
export function walkOptions(request: WalkRequest): WalkOptions {
  return { root: request.root, excludeAbsolutePaths: new Set(request.excludeAbsolutePaths), excludes: excludeMatcher(request.exclude) };
}

/** A walk that failed outright (the root could not be read), as it crosses the thread boundary. */
interface WireWalkError {
  message: string;
  code?: string;
}

export function toWireWalkError(err: unknown): WireWalkError {
  return { message: err instanceof Error ? err.message : String(err), code: (err as NodeJS.ErrnoException)?.code };
}

function fromWireWalkError(wire: unknown): Error {
  const { message, code } = wire as WireWalkError;
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

/** The walk's events on a worker thread, or null when there is no compiled worker. */
export function walkOnThread(request: WalkRequest, workerUrl = new URL('./walk-worker.js', import.meta.url)): AsyncGenerator<WalkEvent[]> | null {
  return pagesFromWorker<WalkEvent>(workerUrl, request, 'walking', fromWireWalkError);
}
