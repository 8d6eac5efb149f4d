// Local names a destination cannot keep apart or store (SPEC §7.3): twins under its case folding
// or Unicode normalisation (`Photo.jpg`/`photo.jpg` on exFAT), a file named like a folder there or
// like an offloaded file (whose copy is all that is left of it), names with characters it refuses.
// Each is refused on that destination with what to rename, never placed over or moved aside for
// its twin; a name that can never land is refused up front, not left to hold evidence back.

import { NameRules } from '../destinations/markers.js';
import { NameRefusal } from '../store/places.js';

/**
 * The name a destination with these rules really stores. Case is folded both ways
 * (upper, then lower), so pairs one direction alone misses (long s and s) still meet; it
 * may call a few distinct names one, which only refuses more.
 */
export function nameKey(relativePath: string, rules: NameRules): string {
  let key = rules.unicodeNormalization ? relativePath.normalize('NFC') : relativePath;
  if (rules.caseFolding) key = key.toUpperCase().toLowerCase();
  return key;
}

function describeRules(rules: NameRules): string {
  if (rules.caseFolding && rules.unicodeNormalization) return 'ignores case and Unicode spelling';
  return rules.caseFolding ? 'ignores case' : 'ignores Unicode spelling';
}

/** What FAT, exFAT and SMB shares refuse in a name: these printable characters and control characters. */
const RESTRICTED = /["*:<>?\\|\x00-\x1f]/;

/** True when the rules can refuse a name: otherwise every name lands as it is, and none need be looked at. */
export function nameRulesApply(rules: NameRules): boolean {
  return rules.caseFolding || rules.unicodeNormalization || rules.restrictedCharacters;
}

/** Every path the destination's rules refuse, with why: collisions, then names it cannot store. */
export function findNameRefusals(paths: readonly string[], rules: NameRules, destination: string, offloaded: readonly string[] = []): NameRefusal[] {
  const refused = new Map<string, NameRefusal>();
  for (const r of findOffloadedTwins(paths, offloaded, rules, destination)) refused.set(r.path, r);
  if (rules.restrictedCharacters) {
    for (const p of paths) {
      if (RESTRICTED.test(p)) refused.set(p, { path: p, reason: 'name-not-allowed', detail: `'${p}' has a character '${destination}' cannot store in a name (one of " * : < > ? \\ | or a control character); rename it, then index and sync again` });
    }
  }
  for (const r of findNameCollisions(paths, rules, destination)) if (!refused.has(r.path)) refused.set(r.path, r);
  return [...refused.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Present files whose name there is an offloaded file's: the copy under that name may be all
 * that is left of the offloaded file, so the newcomer is refused, never put in its place.
 */
function findOffloadedTwins(paths: readonly string[], offloaded: readonly string[], rules: NameRules, destination: string): NameRefusal[] {
  if ((!rules.caseFolding && !rules.unicodeNormalization) || offloaded.length === 0) return [];
  const offloadedByKey = new Map(offloaded.map((p) => [nameKey(p, rules), p]));
  const how = describeRules(rules);
  return paths.flatMap((p) => {
    const twin = offloadedByKey.get(nameKey(p, rules));
    if (twin === undefined || twin === p) return [];
    return [{
      path: p,
      reason: 'name-collision',
      detail: `'${p}' and the offloaded '${twin}' are one name at '${destination}', which ${how}, and the copy there is what is left of '${twin}'; rename '${p}', or bring '${twin}' back first (squirrel restore), then index and sync again`,
    }];
  });
}

/** Every path that collides with another under the destination's rules, with why. */
export function findNameCollisions(paths: readonly string[], rules: NameRules, destination: string): NameRefusal[] {
  if (!rules.caseFolding && !rules.unicodeNormalization) return [];
  const firstByKey = new Map<string, string>();
  const collidesWith = new Map<string, string>();
  for (const p of paths) {
    const key = nameKey(p, rules);
    const other = firstByKey.get(key);
    if (other === undefined) firstByKey.set(key, p);
    else {
      collidesWith.set(p, other);
      if (!collidesWith.has(other)) collidesWith.set(other, p);
    }
  }
  // A file and a folder that are one name there: the file, and everything in the folder.
  for (const p of paths) {
    for (let slash = p.indexOf('/'); slash >= 0; slash = p.indexOf('/', slash + 1)) {
      const folder = p.slice(0, slash);
      const file = firstByKey.get(nameKey(folder, rules));
      if (file === undefined) continue;
      collidesWith.set(p, file);
      if (!collidesWith.has(file)) collidesWith.set(file, `${folder}/`);
    }
  }
  const how = describeRules(rules);
  return [...collidesWith]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, other]) => ({
      path: p,
      reason: 'name-collision',
      detail: `'${p}' and '${other}' are one name at '${destination}', which ${how}; rename one of them, then index and sync again`,
    }));
}
