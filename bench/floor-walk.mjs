// The least a Node program does to notice changes in a tree: a depth-first walk with readdir
// and one lstat per entry with nanosecond times (BigInt), as squirrel's walk does. Nothing is
// kept or written. `scale` runs it beside `find` as the floor a shallow index cannot go under.
import fs from 'node:fs';
import path from 'node:path';

let files = 0;
let bytes = 0n;
const pending = [process.argv[2] ?? '.'];
while (pending.length > 0) {
  const dir = pending.pop();
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    const st = fs.lstatSync(full, { bigint: true });
    if (st.isDirectory()) pending.push(full);
    else if (st.isFile()) {
      files++;
      bytes += st.size + (st.mtimeNs & 0n);
    }
  }
}
console.log(`${files} files, ${bytes} bytes`);
