// The walking worker thread: walks a volume (walk.ts) and sends its events in pages
// (thread-pages.ts), so an index's readdir and lstat calls run beside the main thread's
// database work. Loaded from dist/ only.

import { workerData } from 'node:worker_threads';
import { sendInPages } from '../../thread-pages.js';
import { walkVolume } from './walk.js';
import { WalkRequest, toWireWalkError, walkOptions } from './walk-thread.js';

void sendInPages(walkVolume(walkOptions(workerData as WalkRequest)), toWireWalkError);
