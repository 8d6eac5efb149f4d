// A stream of items produced on a worker thread and read on the main thread a page at a time.
// The worker never runs more than `pagesAhead` pages beyond what the reader has taken (memory
// stays bounded), and the thread keeps the process alive only while the reader waits on it: a
// reader that stops without closing the stream leaves nothing running. Used for walks whose
// readdir and lstat calls are better spent beside the main thread's database work.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parentPort, Worker } from 'node:worker_threads';

/** Items a page; pages the worker may run ahead of its reader. */
const PAGE_ITEMS = 1000;
const PAGES_AHEAD = 8;

type PageMessage<T> = { kind: 'page'; items: T[] } | { kind: 'end' } | { kind: 'error'; error: unknown };

/** Is the worker script there? Only compiled (dist/) builds have one; tests of the TypeScript sources do not. */
export function compiledWorker(workerUrl: URL): boolean {
  return workerUrl.href.endsWith('.js') && fs.existsSync(fileURLToPath(workerUrl));
}

/**
 * Worker side: send what `batches` yields (arrays of items, of any length) in pages of about
 * PAGE_ITEMS, then the end, or the error `toWire` makes of a failure.
 */
export async function sendInPages<T>(batches: Iterable<T[]> | AsyncIterable<T[]>, toWire: (err: unknown) => unknown): Promise<void> {
  let credits = PAGES_AHEAD;
  let wake: (() => void) | null = null;
  // Each message from the reader is a page taken: room for one more.
  parentPort!.on('message', () => {
    credits++;
    const w = wake;
    wake = null;
    w?.();
  });
  const send = async (page: T[]) => {
    while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
    credits--;
    parentPort!.postMessage({ kind: 'page', items: page } satisfies PageMessage<T>);
  };
  try {
    let page: T[] = [];
    for await (const batch of batches) {
      for (const item of batch) page.push(item);
      if (page.length >= PAGE_ITEMS) {
        await send(page);
        page = [];
      }
    }
    if (page.length > 0) await send(page);
    parentPort!.postMessage({ kind: 'end' } satisfies PageMessage<T>);
  } catch (err) {
    parentPort!.postMessage({ kind: 'error', error: toWire(err) } satisfies PageMessage<T>);
  }
}

/** Single items as batches, for sendInPages. */
export function* batchesOf<T>(items: Iterable<T>): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length === PAGE_ITEMS) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Main side: start the worker script at `workerUrl` with `workerData` and read the pages it
 * sends, in order; a failure it reports is thrown as `fromWire` rebuilds it. Null when there is
 * no compiled worker script (the caller then does the work in-thread).
 */
export function pagesFromWorker<T>(workerUrl: URL, workerData: unknown, what: string, fromWire: (wire: unknown) => Error): AsyncGenerator<T[]> | null {
  return compiledWorker(workerUrl) ? readPages<T>(new Worker(workerUrl, { workerData }), what, fromWire) : null;
}

async function* readPages<T>(worker: Worker, what: string, fromWire: (wire: unknown) => Error): AsyncGenerator<T[]> {
  const arrived: PageMessage<T>[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  worker.on('message', (message: PageMessage<T>) => {
    arrived.push(message);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= new Error(`${what} thread failed: ${err.message}`);
    notify();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`${what} thread ended early (exit code ${code})`);
    notify();
  });
  worker.unref();
  try {
    for (;;) {
      if (arrived.length === 0 && failure === null) {
        worker.ref();
        await new Promise<void>((resolve) => (wake = resolve));
        worker.unref();
      }
      const message = arrived.shift();
      if (message === undefined) throw failure!;
      if (message.kind === 'end') return;
      if (message.kind === 'error') throw fromWire(message.error);
      worker.postMessage('taken');
      yield message.items;
    }
  } finally {
    await worker.terminate();
  }
}
