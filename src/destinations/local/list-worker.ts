// The listing worker thread: walks one local destination tree (listing.ts) and sends its files
// in pages (thread-pages.ts). Loaded from dist/ only.

import { workerData } from 'node:worker_threads';
import { batchesOf, sendInPages } from '../../thread-pages.js';
import { walkInOrder } from './listing.js';
import { ListingRequest } from './list-thread.js';
import { toWireError } from './put-pool.js';

const { destination, location, start } = workerData as ListingRequest;
void sendInPages(batchesOf(walkInOrder(destination, location, start)), toWireError);
