// The coverage query gates every claim a sync or verify makes. It reads each content's ledger
// rows in one join; this checks it against the plain definition (three probes per content) on
// many small random ledgers, every state, refusal and age mixed in.

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { COVERAGE_SQL } from '../../src/store/evidence.js';

/** The definition, one question per content: sound copies, the best usable stamp, bad findings. */
const DEFINITION = `SELECT count(*) AS contents,
    coalesce(sum(ok_copies = 0), 0) AS unverified,
    coalesce(sum(bad > 0), 0) AS lost,
    coalesce(sum(ok_copies > 0 AND best IS NULL), 0) AS unknown_age,
    min(best) AS oldest_verified_at_ns
  FROM (SELECT c.id,
      (SELECT count(*) FROM remote_copies rc WHERE rc.volume_id = @volumeId AND rc.destination = @destination
         AND rc.content_id = c.id AND rc.state = 'ok') AS ok_copies,
      (SELECT max(rc.verified_at_ns) FROM remote_copies rc WHERE rc.volume_id = @volumeId AND rc.destination = @destination
         AND rc.content_id = c.id AND rc.state = 'ok' AND (rc.verified_at_ns <= @latestNs OR rc.verified_run_id > @runId)) AS best,
      (SELECT count(*) FROM remote_copies rc WHERE rc.volume_id = @volumeId AND rc.destination = @destination
         AND rc.content_id = c.id AND rc.state <> 'ok') AS bad
    FROM contents c
    WHERE c.origin_node_id = @originNodeId AND c.origin_run_id <= @originRunId
      AND EXISTS (SELECT 1 FROM files f WHERE f.volume_id = @volumeId AND f.content_id = c.id AND f.status IN ('present', 'offloaded')
        AND NOT EXISTS (SELECT 1 FROM name_refusals r WHERE r.volume_id = @volumeId AND r.destination = @destination AND r.path = f.path)))`;

function randomLedger(seed: number): { db: Database.Database; params: Record<string, unknown> } {
  let x = seed;
  const pick = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE contents (id INTEGER PRIMARY KEY, origin_node_id INT, origin_run_id INT);
    CREATE TABLE files (id INTEGER PRIMARY KEY, volume_id INT, content_id INT, status TEXT, path TEXT);
    CREATE TABLE remote_copies (volume_id INT, destination TEXT, content_id INT, state TEXT, verified_at_ns INT, verified_run_id INT, path TEXT);
    CREATE TABLE name_refusals (volume_id INT, destination TEXT, path TEXT);
    CREATE INDEX remote_copies_by_content ON remote_copies (volume_id, destination, content_id);`);
  const contents = 1 + pick(12);
  for (let c = 1; c <= contents; c++) db.prepare('INSERT INTO contents VALUES (?, ?, ?)').run(c, 1 + pick(2), 1 + pick(5));
  for (let i = pick(20); i > 0; i--) {
    db.prepare('INSERT INTO files (volume_id, content_id, status, path) VALUES (?, ?, ?, ?)').run(1 + pick(2), 1 + pick(contents), ['present', 'offloaded', 'missing', 'superseded'][pick(4)], `p${pick(8)}`);
  }
  for (let i = pick(25); i > 0; i--) {
    db.prepare('INSERT INTO remote_copies VALUES (?, ?, ?, ?, ?, ?, ?)').run(1 + pick(2), ['d', 'e'][pick(2)], 1 + pick(contents), ['ok', 'ok', 'missing', 'corrupt'][pick(4)], pick(3) === 0 ? null : pick(100), pick(10), `q${pick(5)}`);
  }
  for (let i = pick(3); i > 0; i--) db.prepare('INSERT INTO name_refusals VALUES (?, ?, ?)').run(1 + pick(2), ['d', 'e'][pick(2)], `p${pick(8)}`);
  const params = { volumeId: 1 + pick(2), destination: ['d', 'e'][pick(2)], originNodeId: 1 + pick(2), originRunId: 1 + pick(5), latestNs: pick(100), runId: pick(10) };
  return { db, params };
}

describe('the coverage query', () => {
  it('answers as its definition on 500 random ledgers (sound, missing, corrupt, unstamped, refused names)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      // setup
      const { db, params } = randomLedger(seed);

      // act
      const fast = db.prepare(COVERAGE_SQL).get(params);
      const defined = db.prepare(DEFINITION).get(params);

      // expect
      expect(fast, `seed ${seed}`).toEqual(defined);
      db.close();
    }
  });
});
