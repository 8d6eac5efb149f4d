-- A recovered index keeps the namespace write counts its snapshot recorded, marked as
-- recovered: syncs after the snapshot may have counted further (a marker ahead is taken on,
-- once no newer catalog of this index says otherwise), but a marker behind what was seen to
-- land is still a rolled-back destination.
ALTER TABLE namespace_claims ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0 CHECK (recovered IN (0, 1));
