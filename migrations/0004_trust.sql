-- Trust (DESIGN §4): who runs a worker and where it stands, replicated
-- units, and results whose checks are not complete yet.

-- A worker's standing: strikes (results found wrong or rejected since its
-- last quarantine), a quarantine's end, an operator's ban. `owner` is what
-- the worker said at registration ('' = it stands for itself); replicas of a
-- unit go to workers of other owners (and other addresses).
ALTER TABLE workers
    ADD COLUMN owner             text        NOT NULL DEFAULT '' CHECK (length(owner) <= 64),
    ADD COLUMN strikes           integer     NOT NULL DEFAULT 0,
    ADD COLUMN quarantined_until timestamptz,
    ADD COLUMN ban_reason        text;

-- A replicated unit is 'verifying' from its first result until enough
-- copies agree; `copies_needed` is how many copies it waits for (2, then 3
-- when two disagree, ...).
ALTER TABLE units DROP CONSTRAINT units_state_check;
ALTER TABLE units ADD CONSTRAINT units_state_check
    CHECK (state IN ('pending', 'leased', 'submitted', 'verifying', 'accepted'));
ALTER TABLE units ADD COLUMN copies_needed integer NOT NULL DEFAULT 1;
-- Claiming a replica looks for verifying units of the current step.
CREATE INDEX units_verifying ON units (run_id, step, unit) WHERE state = 'verifying';

-- 'provisional': a copy of a replicated unit waiting for the others;
-- 'replica': a copy that agreed with the unit's accepted result (credited);
-- 'dropped': set aside (its worker was found wrong or banned before the
-- step was applied, or the copies of its unit settled nothing).
ALTER TABLE results DROP CONSTRAINT results_status_check;
ALTER TABLE results ADD CONSTRAINT results_status_check
    CHECK (status IN ('accepted', 'rejected', 'superseded', 'provisional', 'replica', 'dropped'));
CREATE INDEX results_provisional ON results (run_id, step, unit) WHERE status = 'provisional';
-- The status page counts a run's verified copies every second.
CREATE INDEX results_replica ON results (run_id) WHERE status = 'replica';
-- A worker's results that may still be dropped.
CREATE INDEX results_worker_open ON results (worker_id) WHERE status IN ('accepted', 'provisional', 'replica');

-- koinon_submit with replication. p_replicate: this result needs a replica
-- (the worker's trust drew one). p_replicate_duplicates: so does a result
-- whose payload is another unit's (replication on). p_distinct_addresses: replicas must come
-- from another address as well as another worker and owner.
-- outcome: accepted | provisional (waits for a replica; always so for a
-- payload that is another unit's result) | compare (a copy of a verifying
-- unit: the caller compares the copies) | superseded | conflict | unknown_lease |
-- foreign_lease | lease_not_active (detail: the lease's state).
DROP FUNCTION koinon_submit(uuid, uuid, text, double precision, bigint);
CREATE FUNCTION koinon_submit(p_lease uuid, p_worker uuid, p_payload text, p_loss double precision, p_tokens bigint,
                              p_replicate boolean, p_replicate_duplicates boolean, p_distinct_addresses boolean)
RETURNS TABLE (outcome text, detail text, step_complete boolean)
LANGUAGE plpgsql AS $$
DECLARE
    l leases%ROWTYPE;
    previous_sha text;
    previous_status text;
    unit_state text;
    unit_kind text;
BEGIN
    SELECT * INTO l FROM leases WHERE id = p_lease;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_lease'::text, NULL::text, false;
        RETURN;
    END IF;
    IF l.worker_id <> p_worker THEN
        RETURN QUERY SELECT 'foreign_lease'::text, NULL::text, false;
        RETURN;
    END IF;
    -- Unit before lease: copies of a unit submitted at once queue on the unit.
    SELECT u.state, u.kind INTO unit_state, unit_kind FROM units u
    WHERE u.run_id = l.run_id AND u.step = l.step AND u.unit = l.unit FOR UPDATE;
    SELECT * INTO l FROM leases WHERE id = p_lease FOR UPDATE;
    SELECT r.payload_sha256, r.status INTO previous_sha, previous_status FROM results r WHERE r.lease_id = p_lease;
    IF FOUND THEN
        IF previous_sha <> p_payload THEN
            RETURN QUERY SELECT 'conflict'::text, NULL::text, false;
        ELSE
            RETURN QUERY SELECT previous_status, NULL::text, false;
        END IF;
        RETURN;
    END IF;
    IF l.state = 'superseded' OR (l.state = 'active' AND unit_state = 'accepted') THEN
        INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status, reason)
        VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'superseded',
                'another copy of this unit was accepted first');
        UPDATE leases SET state = 'superseded' WHERE id = p_lease;
        RETURN QUERY SELECT 'superseded'::text, NULL::text, false;
        RETURN;
    END IF;
    IF l.state <> 'active' OR l.deadline < now() THEN
        RETURN QUERY SELECT 'lease_not_active'::text,
                            CASE WHEN l.deadline < now() THEN 'expired' ELSE l.state END, false;
        RETURN;
    END IF;
    -- The gradient of another unit handed in again (a replay)? Gradients of different units never
    -- coincide, but which copy is the replay cannot be told here (the other may have been first
    -- only by a moment): the copy is replicated, and the copies of its unit decide.
    IF p_replicate_duplicates AND unit_kind = 'train'
       AND EXISTS (SELECT 1 FROM results r WHERE r.payload_sha256 = p_payload AND r.run_id = l.run_id
                   AND (r.step, r.unit) <> (l.step, l.unit)) THEN
        p_replicate := true;
    END IF;
    IF unit_state = 'verifying' THEN
        -- A copy counts only from a worker independent of every copy so far;
        -- another copy from the same owner or address cannot verify anything.
        IF EXISTS (SELECT 1 FROM results r JOIN workers a ON a.id = r.worker_id, workers me
                   WHERE me.id = p_worker AND r.run_id = l.run_id AND r.step = l.step AND r.unit = l.unit
                     AND r.status = 'provisional'
                     AND (r.worker_id = p_worker OR (a.owner <> '' AND a.owner = me.owner)
                          OR (p_distinct_addresses AND a.address = me.address))) THEN
            INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status, reason)
            VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'superseded',
                    'a copy from the same owner or address cannot verify this unit');
            UPDATE leases SET state = 'superseded' WHERE id = p_lease;
            RETURN QUERY SELECT 'superseded'::text, NULL::text, false;
            RETURN;
        END IF;
        INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
        VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'provisional');
        UPDATE leases SET state = 'submitted' WHERE id = p_lease;
        RETURN QUERY SELECT 'compare'::text, NULL::text, false;
        RETURN;
    END IF;
    IF p_replicate THEN
        -- Other copies already out (backups) may become its replicas.
        INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
        VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'provisional');
        UPDATE units SET state = 'verifying', copies_needed = 2
        WHERE run_id = l.run_id AND step = l.step AND unit = l.unit;
        UPDATE leases SET state = 'submitted' WHERE id = p_lease;
        RETURN QUERY SELECT 'provisional'::text, NULL::text, false;
        RETURN;
    END IF;
    INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
    VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'accepted');
    UPDATE units SET state = 'accepted' WHERE run_id = l.run_id AND step = l.step AND unit = l.unit;
    UPDATE leases SET state = CASE WHEN id = p_lease THEN 'submitted' ELSE 'superseded' END
    WHERE run_id = l.run_id AND step = l.step AND unit = l.unit AND (id = p_lease OR state = 'active');
    IF unit_kind = 'train' THEN
        -- WorkerTrust's acceptedUnreplicated: one more valid result in a row.
        UPDATE workers SET consecutive_valid = consecutive_valid + 1 WHERE id = p_worker;
        RETURN QUERY SELECT 'accepted'::text, NULL::text,
            NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = l.run_id AND u.step = l.step AND u.kind = 'train'
                        AND u.state <> 'accepted');
    ELSE
        RETURN QUERY SELECT 'accepted'::text, NULL::text,
            NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = l.run_id AND u.step = l.step AND u.kind = 'eval'
                        AND u.state <> 'accepted');
    END IF;
END
$$;
