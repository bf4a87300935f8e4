-- A worker hands in its result and asks for its next unit in one request
-- (Koinon-Next-Lease). That was two statements and two commits: the results
-- (koinon_submit_batch), then a claim for each result accepted. Under the
-- load benchmark a statement costs far more than the rows it touches: a
-- throwaway probe that skipped one of a cycle's three statements cut
-- PostgreSQL's CPU a cycle by a fifth to a third (BENCHMARKS.md,
-- 2026-12-08). Here the claims are made in the results' statement.

-- The claim of pending training units, as LeaseRepository's
-- ClaimPendingUnits made it (that statement now calls this function): the
-- lowest pending units of active runs' current steps, one to each worker of
-- the batch that may work, as lease p_leases[i] for p_seconds[i] seconds. A
-- claim left without a unit has no row.
CREATE FUNCTION koinon_claim_pending(p_leases uuid[], p_workers uuid[], p_seconds double precision[])
RETURNS TABLE (lease_id uuid, run_id bigint, step integer, unit integer, deadline timestamptz, parameters_sha256 text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF coalesce(cardinality(p_leases), 0) = 0 THEN
        RETURN;  -- (LIMIT NULL would be no limit at all)
    END IF;
    RETURN QUERY
        WITH wanted AS (
            -- The claims of workers free to work, in order, as arrays.
            SELECT array_agg(c.lease ORDER BY c.n) AS leases, array_agg(c.worker ORDER BY c.n) AS workers,
                   array_agg(c.seconds ORDER BY c.n) AS seconds
            FROM unnest(p_leases, p_workers, p_seconds) WITH ORDINALITY AS c(lease, worker, seconds, n)
            WHERE EXISTS (SELECT 1 FROM workers w WHERE w.id = c.worker AND w.ban_reason IS NULL
                          AND (w.quarantined_until IS NULL OR w.quarantined_until <= now()))),
        target AS MATERIALIZED (
            -- Run by run, the lowest pending units of its current step: an ordered
            -- scan of units_pending that stops once it has enough unlocked rows (a
            -- join sorted afterwards reads every pending unit of the step: 3.5 ms
            -- at 4,000 units instead of 0.2 ms).
            SELECT t.run_id, t.step, t.unit
            FROM (SELECT id, current_step FROM runs WHERE state = 'active' ORDER BY id) r,
            LATERAL (SELECT u.run_id, u.step, u.unit FROM units u
                     WHERE u.run_id = r.id AND u.step = r.current_step AND u.state = 'pending' AND u.kind = 'train'
                     ORDER BY u.unit LIMIT cardinality(p_leases) FOR UPDATE SKIP LOCKED) t
            LIMIT cardinality(p_leases)),
        paired AS (
            -- Unit i to claim i, side by side (unnest pads the shorter list with NULLs). A
            -- join on row numbers instead was planned as a nested loop: 100 ms for 256 claims.
            SELECT p.* FROM wanted w,
                (SELECT array_agg(run_id) AS runs, array_agg(step) AS steps, array_agg(unit) AS units FROM target) t,
                unnest(t.runs, t.steps, t.units, w.leases, w.workers, w.seconds) AS p(run_id, step, unit, lease, worker, seconds)
            WHERE p.run_id IS NOT NULL AND p.lease IS NOT NULL),
        claimed AS (
            UPDATE units u SET state = 'leased' FROM paired p
            WHERE u.run_id = p.run_id AND u.step = p.step AND u.unit = p.unit
            RETURNING u.run_id, u.step, u.unit, p.lease, p.worker, p.seconds),
        lease AS (
            INSERT INTO leases (id, run_id, step, unit, worker_id, is_backup, deadline)
            SELECT lease, run_id, step, unit, worker, false, now() + make_interval(secs => seconds) FROM claimed
            RETURNING id, run_id, step, unit, deadline)
        SELECT l.id, l.run_id, l.step, l.unit, l.deadline, p.parameters_sha256
        FROM lease l JOIN parameter_versions p ON p.run_id = l.run_id AND p.version = l.step;
END
$$;

-- koinon_submit_batch's answers, each with the unit claimed for it: where
-- p_claim_next[i], result i's worker gets lease p_next_leases[i] for
-- p_next_seconds[i] seconds, if the result was accepted without completing
-- its step (else nothing is pending until the step is applied).
-- The claims come after every result of the batch is recorded, in the same
-- transaction; a claim finding no pending unit leaves its next_ columns NULL.
CREATE FUNCTION koinon_submit_and_claim(p_leases uuid[], p_workers uuid[], p_payloads text[],
                                        p_losses double precision[], p_tokens bigint[], p_replicate boolean[],
                                        p_replicate_duplicates boolean[], p_distinct_addresses boolean[],
                                        p_claim_next boolean[], p_next_leases uuid[],
                                        p_next_seconds double precision[])
RETURNS TABLE (n bigint, outcome text, detail text, step_complete boolean, next_lease uuid, next_run bigint,
               next_step integer, next_unit integer, next_deadline timestamptz, next_parameters_sha256 text)
LANGUAGE plpgsql AS $$
DECLARE
    s_n bigint[];
    s_outcome text[];
    s_detail text[];
    s_complete boolean[];
    c_lease uuid[];
    c_worker uuid[];
    c_seconds double precision[];
BEGIN
    SELECT array_agg(b.n ORDER BY b.n), array_agg(b.outcome ORDER BY b.n), array_agg(b.detail ORDER BY b.n),
           array_agg(b.step_complete ORDER BY b.n)
    INTO s_n, s_outcome, s_detail, s_complete
    FROM koinon_submit_batch(p_leases, p_workers, p_payloads, p_losses, p_tokens, p_replicate,
                             p_replicate_duplicates, p_distinct_addresses) b;

    -- The claims, in batch order ('replica': a copy that verified the unit, accepted as well).
    SELECT array_agg(p_next_leases[x.n] ORDER BY x.n), array_agg(p_workers[x.n] ORDER BY x.n),
           array_agg(p_next_seconds[x.n] ORDER BY x.n)
    INTO c_lease, c_worker, c_seconds
    FROM unnest(s_n, s_outcome, s_complete) AS x(n, outcome, complete)
    WHERE x.outcome IN ('accepted', 'replica') AND NOT x.complete AND p_claim_next[x.n];

    RETURN QUERY
    WITH g AS MATERIALIZED (SELECT * FROM koinon_claim_pending(c_lease, c_worker, c_seconds))
    SELECT x.n, x.outcome, x.detail, x.complete, g.lease_id, g.run_id, g.step, g.unit, g.deadline, g.parameters_sha256
    FROM unnest(s_n, s_outcome, s_detail, s_complete) AS x(n, outcome, detail, complete)
    LEFT JOIN g ON p_claim_next[x.n] AND g.lease_id = p_next_leases[x.n]
    ORDER BY x.n;
END
$$;
