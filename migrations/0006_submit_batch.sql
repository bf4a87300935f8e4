-- koinon_submit_batch: a batch of results (the coordinator coalesces those
-- that arrive together) recorded with a handful of statements instead of
-- koinon_submit's ten per result. With the coordinator under load, PostgreSQL
-- spent most of its time starting and finishing koinon_submit's statements
-- one result at a time.
--
-- The common case goes set-wise: an active, unexpired lease of the worker
-- that hands it in, with no result yet, for a unit neither accepted nor being
-- verified, that needs no replica; the first such copy of each unit in the
-- batch. Everything else (replicas, verifying copies, resubmissions, late,
-- foreign or unknown leases, a unit's other copies in the same batch) goes
-- through koinon_submit one by one, after the common case, in batch order.
-- The answers are koinon_submit's; step_complete is true for one result only,
-- the last one to accept a unit of the step.
--
-- Arrays are parallel, one element per result; n (from 1) is its position.
CREATE FUNCTION koinon_submit_batch(p_leases uuid[], p_workers uuid[], p_payloads text[], p_losses double precision[],
                                    p_tokens bigint[], p_replicate boolean[], p_replicate_duplicates boolean[],
                                    p_distinct_addresses boolean[])
RETURNS TABLE (n bigint, outcome text, detail text, step_complete boolean)
-- Planned for each batch: a plan cached while the tables were young (a few
-- hundred leases: scan them all) was kept as they grew, and a batch then
-- scanned tens of thousands of leases to lock its own (60 ms instead of 1).
SET plan_cache_mode = force_custom_plan
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
BEGIN
    -- Units before leases, as koinon_submit takes them, each in key order.
    PERFORM 1 FROM units u JOIN leases l ON l.run_id = u.run_id AND l.step = u.step AND l.unit = u.unit
    WHERE l.id = ANY (p_leases) ORDER BY u.run_id, u.step, u.unit FOR UPDATE OF u;
    PERFORM 1 FROM leases l WHERE l.id = ANY (p_leases) ORDER BY l.id FOR UPDATE;

    WITH input AS (
        SELECT s.*, count(*) OVER (PARTITION BY s.payload) AS same_payload
        FROM unnest(p_leases, p_workers, p_payloads, p_losses, p_tokens, p_replicate, p_replicate_duplicates)
             WITH ORDINALITY AS s(lease, worker, payload, loss, tokens, replicate, duplicates, n)
    ), candidates AS (
        SELECT i.n, i.lease, i.worker, i.payload, i.loss, i.tokens, l.run_id, l.step, l.unit, u.kind,
               row_number() OVER (PARTITION BY l.run_id, l.step, l.unit ORDER BY i.n) AS copy
        FROM input i
        JOIN leases l ON l.id = i.lease
        JOIN units u ON u.run_id = l.run_id AND u.step = l.step AND u.unit = l.unit
        WHERE l.worker_id = i.worker AND l.state = 'active' AND l.deadline >= now()
          AND u.state NOT IN ('accepted', 'verifying')
          AND NOT i.replicate
          AND NOT EXISTS (SELECT 1 FROM results r WHERE r.lease_id = i.lease)
          -- A payload seen before for another unit, or twice in this batch, is koinon_submit's to judge.
          AND NOT (i.duplicates AND u.kind = 'train'
                   AND (i.same_payload > 1
                        OR EXISTS (SELECT 1 FROM results r WHERE r.payload_sha256 = i.payload AND r.run_id = l.run_id
                                   AND (r.step, r.unit) <> (l.step, l.unit))))
    )
    SELECT coalesce(array_agg(c.n ORDER BY c.n), '{}'), array_agg(c.lease ORDER BY c.n), array_agg(c.worker ORDER BY c.n),
           array_agg(c.payload ORDER BY c.n), array_agg(c.loss ORDER BY c.n), array_agg(c.tokens ORDER BY c.n),
           array_agg(c.run_id ORDER BY c.n), array_agg(c.step ORDER BY c.n), array_agg(c.unit ORDER BY c.n),
           array_agg(c.kind ORDER BY c.n)
    INTO c_n, c_lease, c_worker, c_payload, c_loss, c_tokens, c_run, c_step, c_unit, c_kind
    FROM candidates c WHERE c.copy = 1;

    IF cardinality(c_n) > 0 THEN
        INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
        SELECT b.lease, b.run_id, b.step, b.unit, b.worker, b.payload, b.loss, b.tokens, 'accepted'
        FROM unnest(c_lease, c_run, c_step, c_unit, c_worker, c_payload, c_loss, c_tokens)
             AS b(lease, run_id, step, unit, worker, payload, loss, tokens);
        UPDATE units u SET state = 'accepted' FROM unnest(c_run, c_step, c_unit) AS b(run_id, step, unit)
        WHERE u.run_id = b.run_id AND u.step = b.step AND u.unit = b.unit;
        UPDATE leases l SET state = CASE WHEN l.id = b.lease THEN 'submitted' ELSE 'superseded' END
        FROM unnest(c_lease, c_run, c_step, c_unit) AS b(lease, run_id, step, unit)
        WHERE l.run_id = b.run_id AND l.step = b.step AND l.unit = b.unit AND (l.id = b.lease OR l.state = 'active');
        -- WorkerTrust's acceptedUnreplicated: one more valid result in a row, per training unit.
        UPDATE workers w SET consecutive_valid = w.consecutive_valid + c.k
        FROM (SELECT b.worker, count(*) AS k FROM unnest(c_worker, c_kind) AS b(worker, kind)
              WHERE b.kind = 'train' GROUP BY b.worker) c
        WHERE w.id = c.worker;

        -- Whether a step (of a kind) is complete is asked once, for its last result in the batch.
        RETURN QUERY
        SELECT b.n, 'accepted'::text, NULL::text, coalesce(g.complete, false)
        FROM unnest(c_n) AS b(n)
        LEFT JOIN (
            SELECT max(x.n) AS last,
                   NOT EXISTS (SELECT 1 FROM units u WHERE u.run_id = x.run_id AND u.step = x.step AND u.kind = x.kind
                               AND u.state <> 'accepted') AS complete
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
