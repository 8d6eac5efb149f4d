// Bench case `catalog`: what publishing the catalog costs (SPEC §8). For an index of 10k / 100k
// / 1M files (rows generated straight into SQLite, as in the offload case), one publication to a
// local destination: the VACUUM INTO snapshot, gzip with its BLAKE3, the durable put and the
// pruning, timed from the built modules; with the snapshot's size. Every sync, verify, offload
// and restore pays this once per command.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, WORK_DIR, parseArgs, printTable, requireBuild } from './lib.mjs';
import { seedIndex } from './offload.mjs';

export const description = 'one catalog publication (snapshot, gzip, put, prune) for an index of 10k..1M files (--sizes 10000,100000,1000000 --runs 3)';

const dist = (module) => import(pathToFileURL(path.join(REPO_ROOT, 'dist', module)).href);

export async function run(argv) {
  requireBuild();
  const args = parseArgs(argv);
  const sizes = String(args.sizes ?? '10000,100000,1000000').split(',').map(Number);
  const runs = Number(args.runs ?? 3);
  const { Store } = await dist('store/store.js');
  const { publishCatalog } = await dist('core/catalog.js');
  const { LocalDestination } = await dist('destinations/local.js');
  const { loadOrCreateNodeKey } = await dist('core/node-key.js');
  const quiet = { progress() {}, warn(message) { console.error(`warning: ${message}`); }, info() {} };
  const rows = [['files', 'database', 'snapshot (gz)', 'publish, best of ' + runs, 'per 1k files']];
  for (const count of sizes) {
    const dir = path.join(WORK_DIR, `catalog-${count}`);
    seedIndex(dir, count);
    const dbPath = path.join(dir, 'index.db');
    const root = path.join(dir, 'dest');
    const destination = new LocalDestination('dest', root);
    await destination.init();
    const store = Store.open(dbPath);
    const key = loadOrCreateNodeKey(dbPath);
    let best = Infinity;
    let snapshotBytes = 0;
    try {
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const [outcome] = await publishCatalog(store, [destination], { node: 'bench', key, keep: 7, nowNs: BigInt(Date.now()) * 1_000_000n + BigInt(i), reporter: quiet, hooks: { at() {} }, scratchDir: dir });
        best = Math.min(best, performance.now() - started);
        if (outcome.error) throw new Error(outcome.error);
        snapshotBytes = fs.statSync(path.join(root, '.squirrel-catalog', 'bench', outcome.snapshot)).size;
      }
    } finally {
      store.close();
    }
    const dbBytes = fs.statSync(dbPath).size;
    rows.push([String(count), `${(dbBytes / 1e6).toFixed(1)} MB`, `${(snapshotBytes / 1e6).toFixed(1)} MB`, `${(best / 1000).toFixed(2)} s`, `${((best / count) * 1000).toFixed(2)} ms`]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
}
