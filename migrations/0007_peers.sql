-- Several nodes, one destination (SPEC §9). Each node numbers the attestations it publishes
-- (<root>/.squirrel-evidence/<node>/<seq>.json), and remembers per peer and destination the
-- highest seq it applied: attestations are read by sequence, never by time; the same seq again
-- is a no-op, and a peer whose newest seq is lower than one applied has been rewound.
INSERT INTO meta (key, value) VALUES ('attestation_seq', '0') ON CONFLICT (key) DO NOTHING;

CREATE TABLE peer_cursors (
  peer           TEXT NOT NULL,
  destination    TEXT NOT NULL,
  seq            INTEGER NOT NULL CHECK (seq >= 0),
  applied_at_ns  INTEGER NOT NULL,
  PRIMARY KEY (peer, destination)
) STRICT;
