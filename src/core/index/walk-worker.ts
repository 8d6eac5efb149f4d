// The walking worker thread: walks a volume (walk.ts) and sends its events in pages
// (thread-pages.ts), so an index's readdir and lstat calls run beside the main thread's
// database work. Loaded from dist/ only.

import { workerData } from 'node:worker_threads';
import { excludeMatcher } from '../../config/exclude.js';
import { sendInPages } from '../../thread-pages.js';
import { walkVolume } from './walk.js';
import { WalkRequest, toWireWalkError } from './walk-thread.js';

const { root, excludeAbsolutePaths, exclude } = workerData as WalkRequest;

const walk = walkVolume({ root, excludeAbsolutePaths: new Set(excludeAbsolutePaths), excludes: excludeMatcher(exclude) });
void sendInPages(walk, 1000, 8, toWireWalkError);
