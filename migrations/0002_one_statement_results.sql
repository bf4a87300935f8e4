-- Results are recorded by one statement (koinon_submit), so a submission
-- costs the coordinator one round trip and one commit however busy the step.
-- The rules are those of KoinonCore's StepSchedule: the first result for a
-- unit is accepted, later copies are superseded, a lease that expired or was
-- released cannot submit, the same submission again gets the same answer and
-- a different payload under the same lease is a conflict.

-- "Is any unit of this step still open?" is asked after every accepted
-- result and by the aggregator: an index probe, not a scan of the step.
CREATE INDEX units_open ON units (run_id, step) WHERE state <> 'accepted';

-- Blobs are named by content and runs may share them (the same run created
-- twice): pruning asks whether any row still needs a hash.
CREATE INDEX results_payload ON results (payload_sha256);
CREATE INDEX parameter_versions_parameters ON parameter_versions (parameters_sha256);

-- outcome: accepted | superseded | conflict | unknown_lease | foreign_lease |
-- lease_not_active (detail: the lease's state, 'expired' when overdue).
-- step_complete: this accepted result was the step's last open unit.
CREATE FUNCTION koinon_submit(p_lease uuid, p_worker uuid, p_payload text, p_loss double precision, p_tokens bigint)
RETURNS TABLE (outcome text, detail text, step_complete boolean)
LANGUAGE plpgsql AS $$
DECLARE
    l leases%ROWTYPE;
    previous_sha text;
    previous_status text;
    unit_state text;
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
    -- Results for one unit take the unit's row lock first, then their lease's:
    -- two copies of a unit submitted at once queue on the unit instead of
    -- each holding the lease the other's acceptance must mark superseded.
    SELECT u.state INTO unit_state FROM units u
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
    -- A copy whose unit another copy completed first: recorded, answered "superseded".
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
    INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
    VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'accepted');
    UPDATE units SET state = 'accepted' WHERE run_id = l.run_id AND step = l.step AND unit = l.unit;
    -- This lease submitted; other copies still out are superseded.
    UPDATE leases SET state = CASE WHEN id = p_lease THEN 'submitted' ELSE 'superseded' END
    WHERE run_id = l.run_id AND step = l.step AND unit = l.unit AND (id = p_lease OR state = 'active');
    RETURN QUERY SELECT 'accepted'::text, NULL::text,
        NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = l.run_id AND u.step = l.step AND u.state <> 'accepted');
END
$$;
