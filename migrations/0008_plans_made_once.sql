-- The lease → submit cycle's statements planned once per connection, not at
-- every batch.
--
-- koinon_submit_batch (0006) was planned afresh at every call
-- (force_custom_plan), because a plan cached while the tables were young
-- scanned them whole once they had grown. Under the load benchmark with
-- workers that compute between units (batches of a few results), planning
-- was then about 4 ms of a batch's 11, and a foreign-key check planned again
-- for every result; the lookup before each submission (SubmissionLookups, a
-- prepared statement PostgreSQL chose to plan at every call) spent 0.5 ms
-- planning for 0.15 ms of work. Together about 40% of PostgreSQL's time.
--
-- Here both are planned once (force_generic_plan) and written so that the
-- plan cannot depend on how large the tables were when it was made: each
-- row is found by its key from the batch's arrays, in a subquery that
-- OFFSET 0 keeps whole (its only possible access is then the key's index;
-- sequential and bitmap scans are off as a last guard), and rows are updated by key or
-- by the position (ctid) their lock returned. Nothing else changes: the
-- answers and rows are koinon_submit's (SubmitBatchTests compares them).

-- What submissions are checked against: for each (lease, worker), the
-- worker's trust record and the unit the lease is for (NULLs for an unknown
-- lease); no row for an unknown worker. n counts from 1.
CREATE FUNCTION koinon_submission_lookups(p_leases uuid[], p_workers uuid[])
RETURNS TABLE (n bigint, consecutive_valid integer, strikes integer, quarantined_until timestamptz, ban_reason text,
               run_id bigint, step integer, unit integer, kind text)
STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT q.n, w.consecutive_valid, w.strikes, w.quarantined_until, w.ban_reason, lu.run_id, lu.step, lu.unit, lu.kind
    FROM unnest(p_leases, p_workers) WITH ORDINALITY AS q(lease, worker, n)
    CROSS JOIN LATERAL (SELECT x.consecutive_valid, x.strikes, x.quarantined_until, x.ban_reason
                        FROM workers x WHERE x.id = q.worker OFFSET 0) w
    LEFT JOIN LATERAL (SELECT l.run_id, l.step, l.unit, u.kind
                       FROM (SELECT x.run_id, x.step, x.unit FROM leases x WHERE x.id = q.lease OFFSET 0) l
                       CROSS JOIN LATERAL (SELECT x.kind FROM units x
                                           WHERE x.run_id = l.run_id AND x.step = l.step AND x.unit = l.unit OFFSET 0) u
                       ) lu ON true;
END
$$;

-- koinon_submit_batch as in 0006 (the common case set-wise, the rest
-- through koinon_submit one by one), planned once. Its settings hold for
-- koinon_submit and the foreign-key checks it runs too: their statements
-- are single-key lookups, planned once as well.
CREATE OR REPLACE FUNCTION koinon_submit_batch(p_leases uuid[], p_workers uuid[], p_payloads text[],
                                               p_losses double precision[], p_tokens bigint[], p_replicate boolean[],
                                               p_replicate_duplicates boolean[], p_distinct_addresses boolean[])
RETURNS TABLE (n bigint, outcome text, detail text, step_complete boolean)
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_bitmapscan = off
LANGUAGE plpgsql AS $$
DECLARE
    -- The common case's results, as parallel arrays.
    c_n bigint[];
    c_lease uuid[];
    c_worker uuid[];
    c_payload text[];
    c_loss double precision[];
    c_tokens bigint[];
    c_run bigint[];
    c_step integer[];
    c_unit integer[];
    c_kind text[];
    -- Where each common-case unit's row is (locked: it stays there until updated here).
    c_unit_row tid[];
    -- The common case's units' other active leases (backup copies), locked.
    v_other_leases tid[];
    -- Workers with training results in the common case, and how many each.
    v_workers uuid[];
    v_valid bigint[];
BEGIN
    -- Units before leases, as koinon_submit takes them, each in key order: the
    -- batch's leases (their unit never changes) sorted by unit, then each unit locked.
    PERFORM 1
    FROM (SELECT l.run_id, l.step, l.unit
          FROM unnest(p_leases) AS k(id)
          CROSS JOIN LATERAL (SELECT x.run_id, x.step, x.unit FROM leases x WHERE x.id = k.id OFFSET 0) l
          ORDER BY 1, 2, 3) t
    CROSS JOIN LATERAL (SELECT 1 FROM units x WHERE x.run_id = t.run_id AND x.step = t.step AND x.unit = t.unit
                        FOR UPDATE) u;
    PERFORM 1
    FROM (SELECT k.id FROM unnest(p_leases) AS k(id) ORDER BY 1) k
    CROSS JOIN LATERAL (SELECT 1 FROM leases x WHERE x.id = k.id FOR UPDATE) l;

    WITH input AS (
        SELECT s.*, count(*) OVER (PARTITION BY s.payload) AS same_payload
        FROM unnest(p_leases, p_workers, p_payloads, p_losses, p_tokens, p_replicate, p_replicate_duplicates)
             WITH ORDINALITY AS s(lease, worker, payload, loss, tokens, replicate, duplicates, n)
    ), candidates AS (
        SELECT i.n, i.lease, i.worker, i.payload, i.loss, i.tokens, l.run_id, l.step, l.unit, u.kind, u.unit_row,
               row_number() OVER (PARTITION BY l.run_id, l.step, l.unit ORDER BY i.n) AS copy
        FROM input i
        CROSS JOIN LATERAL (SELECT x.run_id, x.step, x.unit, x.worker_id, x.state, x.deadline
                            FROM leases x WHERE x.id = i.lease OFFSET 0) l
        CROSS JOIN LATERAL (SELECT x.kind, x.state, x.ctid AS unit_row FROM units x
                            WHERE x.run_id = l.run_id AND x.step = l.step AND x.unit = l.unit OFFSET 0) u
        WHERE l.worker_id = i.worker AND l.state = 'active' AND l.deadline >= now()
          AND u.state NOT IN ('accepted', 'verifying')
          AND NOT i.replicate
          AND NOT EXISTS (SELECT 1 FROM (SELECT 1 FROM results r WHERE r.lease_id = i.lease OFFSET 0) r)
          -- A payload seen before for another unit, or twice in this batch, is koinon_submit's to judge.
          AND NOT (i.duplicates AND u.kind = 'train'
                   AND (i.same_payload > 1
                        OR EXISTS (SELECT 1 FROM results r WHERE r.payload_sha256 = i.payload AND r.run_id = l.run_id
                                   AND (r.step, r.unit) <> (l.step, l.unit) OFFSET 0)))
    )
    SELECT coalesce(array_agg(c.n ORDER BY c.n), '{}'), array_agg(c.lease ORDER BY c.n), array_agg(c.worker ORDER BY c.n),
           array_agg(c.payload ORDER BY c.n), array_agg(c.loss ORDER BY c.n), array_agg(c.tokens ORDER BY c.n),
           array_agg(c.run_id ORDER BY c.n), array_agg(c.step ORDER BY c.n), array_agg(c.unit ORDER BY c.n),
           array_agg(c.kind ORDER BY c.n), array_agg(c.unit_row ORDER BY c.n)
    INTO c_n, c_lease, c_worker, c_payload, c_loss, c_tokens, c_run, c_step, c_unit, c_kind, c_unit_row
    FROM candidates c WHERE c.copy = 1;

    IF cardinality(c_n) > 0 THEN
        INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
        SELECT b.lease, b.run_id, b.step, b.unit, b.worker, b.payload, b.loss, b.tokens, 'accepted'
        FROM unnest(c_lease, c_run, c_step, c_unit, c_worker, c_payload, c_loss, c_tokens)
             AS b(lease, run_id, step, unit, worker, payload, loss, tokens);
        UPDATE units SET state = 'accepted' WHERE ctid = ANY (c_unit_row);
        UPDATE leases SET state = 'submitted' WHERE id = ANY (c_lease);
        -- A unit's other active copies are superseded (locked first, in key order; units are held already).
        SELECT array_agg(o.lease_row) INTO v_other_leases
        FROM (SELECT b.run_id, b.step, b.unit FROM unnest(c_run, c_step, c_unit) AS b(run_id, step, unit) ORDER BY 1, 2, 3) b
        CROSS JOIN LATERAL (SELECT x.lease_row
                            FROM (SELECT y.ctid AS lease_row, y.id, y.state FROM leases y
                                  WHERE y.run_id = b.run_id AND y.step = b.step AND y.unit = b.unit OFFSET 0) x
                            WHERE x.state = 'active' ORDER BY x.id FOR UPDATE OF x) o;
        IF v_other_leases IS NOT NULL THEN
            UPDATE leases SET state = 'superseded' WHERE ctid = ANY (v_other_leases);
        END IF;
        -- WorkerTrust's acceptedUnreplicated: one more valid result in a row, per training unit.
        SELECT array_agg(c.worker), array_agg(c.k) INTO v_workers, v_valid
        FROM (SELECT b.worker, count(*) AS k FROM unnest(c_worker, c_kind) AS b(worker, kind)
              WHERE b.kind = 'train' GROUP BY b.worker) c;
        IF v_workers IS NOT NULL THEN
            UPDATE workers SET consecutive_valid = consecutive_valid + v_valid[array_position(v_workers, id)]
            WHERE id = ANY (v_workers);
        END IF;

        -- Whether a step (of a kind) is complete is asked once, for its last result in the
        -- batch (each kind with its own literal, so that its partial index serves it), by an
        -- index scan that stops at the first open unit. (OFFSET 0 here and in the other EXISTS:
        -- else PostgreSQL may run an EXISTS as one hashed scan of every row it could match,
        -- every open unit of every step, 4,096 rows at the load benchmark's steps.)
        RETURN QUERY
        SELECT b.n, 'accepted'::text, NULL::text, coalesce(g.complete, false)
        FROM unnest(c_n) AS b(n)
        LEFT JOIN (
            SELECT max(x.n) AS last,
                   CASE WHEN x.kind = 'train'
                        THEN NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = x.run_id AND u.step = x.step
                                         AND u.kind = 'train' AND u.state <> 'accepted' OFFSET 0)
                        ELSE NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = x.run_id AND u.step = x.step
                                         AND u.kind = 'eval' AND u.state <> 'accepted' OFFSET 0)
                   END AS complete
            FROM unnest(c_n, c_run, c_step, c_kind) AS x(n, run_id, step, kind)
            GROUP BY x.run_id, x.step, x.kind
        ) g ON g.last = b.n;
    END IF;

    RETURN QUERY
    SELECT s.n, k.outcome, k.detail, k.step_complete
    FROM unnest(p_leases, p_workers, p_payloads, p_losses, p_tokens, p_replicate, p_replicate_duplicates, p_distinct_addresses)
         WITH ORDINALITY AS s(lease, worker, payload, loss, tokens, replicate, duplicates, distinct_addresses, n)
    CROSS JOIN LATERAL koinon_submit(s.lease, s.worker, s.payload, s.loss, s.tokens, s.replicate, s.duplicates,
                                     s.distinct_addresses) k
    WHERE s.n <> ALL (c_n)
    ORDER BY s.n;
END
$$;
