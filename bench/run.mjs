// `npm run bench [-- <case> [options]]`: run one benchmark case, or every case when none is
// named. A case is a module bench/<case>.mjs exporting `description` and `run(argv)`.

import fs from 'node:fs';
import { BENCH_DIR } from './lib.mjs';

const NOT_CASES = new Set(['run.mjs', 'lib.mjs']);
const cases = fs
  .readdirSync(BENCH_DIR)
  .filter((name) => name.endsWith('.mjs') && !NOT_CASES.has(name))
  .map((name) => name.slice(0, -'.mjs'.length))
  .sort();

async function load(name) {
  return import(new URL(`./${name}.mjs`, import.meta.url).href);
}

async function main(argv) {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log('usage: node bench/run.mjs [<case> [options]]\n\ncases:');
    const width = Math.max(...cases.map((c) => c.length));
    for (const c of cases) console.log(`  ${c.padEnd(width)}  ${(await load(c)).description}`);
    return 0;
  }
  if (name === undefined) {
    for (const c of cases) {
      console.log(`\n== bench ${c} ==`);
      await (await load(c)).run([]);
    }
    return 0;
  }
  if (!cases.includes(name)) {
    console.error(`no bench case '${name}'; cases: ${cases.join(', ')}`);
    return 2;
  }
  await (await load(name)).run(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(`bench failed: ${err.message}`);
    process.exitCode = 1;
  },
);
