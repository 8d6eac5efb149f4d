// `npm run check:cycles`: fail when modules under src/ import each other in a circle. Every
// import counts, type-only and dynamic ones too: a circle of types still ties two layers
// together, and a lazy import() only hides the knot until load order bites. The parser is
// TypeScript's own (already a dev dependency), so no other tool is needed.

import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(process.argv[2] ?? 'src');

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The project files a module imports; `./x.js` in a NodeNext import names `./x.ts`. */
function importsOf(file) {
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((ref) => ref.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'))
    .filter((target) => fs.existsSync(target));
}

const files = sourceFiles(root);
const edges = new Map(files.map((file) => [file, importsOf(file)]));

// Tarjan's strongly connected components: each component of more than one module (or a
// module importing itself) is a circle.
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const circles = [];
function connect(file) {
  index.set(file, counter);
  low.set(file, counter++);
  stack.push(file);
  onStack.add(file);
  for (const next of edges.get(file) ?? []) {
    if (!index.has(next)) {
      connect(next);
      low.set(file, Math.min(low.get(file), low.get(next)));
    } else if (onStack.has(next)) {
      low.set(file, Math.min(low.get(file), index.get(next)));
    }
  }
  if (low.get(file) !== index.get(file)) return;
  const component = [];
  let member;
  do {
    member = stack.pop();
    onStack.delete(member);
    component.push(member);
  } while (member !== file);
  if (component.length > 1 || (edges.get(file) ?? []).includes(file)) circles.push(component);
}
for (const file of files) if (!index.has(file)) connect(file);

const shown = (file) => path.relative(process.cwd(), file);
if (circles.length === 0) {
  console.log(`no circular imports among ${files.length} modules under ${shown(root)}/`);
} else {
  console.error(`${circles.length} circle(s) of imports under ${shown(root)}/:`);
  for (const circle of circles) console.error(`  ${circle.map(shown).sort().join('\n    ')}`);
  process.exitCode = 1;
}
