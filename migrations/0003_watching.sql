-- Watching a run: evaluation units that workers compute, rejected results
-- kept with their reason, and credit per worker.

-- Evaluation units measure the validation loss of parameter version `step`
-- on the held-out split. They live beside the step's training units (unit
-- numbers after them) but never hold the step back: a step is complete when
-- its training units are accepted.
ALTER TABLE units ADD COLUMN kind text NOT NULL DEFAULT 'train' CHECK (kind IN ('train', 'eval'));

DROP INDEX units_open;
CREATE INDEX units_open ON units (run_id, step) WHERE state <> 'accepted' AND kind = 'train';
-- Claiming an evaluation unit: the oldest pending one of a run, whatever its step.
CREATE INDEX units_eval_pending ON units (run_id, step, unit) WHERE state = 'pending' AND kind = 'eval';
-- Evaluation units not yet accepted (is an evaluation complete? how many are out?).
CREATE INDEX units_eval_open ON units (run_id, step) WHERE kind = 'eval' AND state <> 'accepted';

-- Set on the step whose input version is being evaluated until its validation
-- loss is recorded: pruning keeps that version's parameters, and finding
-- complete evaluations reads only these rows.
ALTER TABLE steps ADD COLUMN evaluation_pending boolean NOT NULL DEFAULT false;
CREATE INDEX steps_evaluation_pending ON steps (run_id, step) WHERE evaluation_pending;
-- The status snapshot reads a run's evaluated steps every second (new steps it reads by key).
CREATE INDEX steps_validated ON steps (run_id, step) WHERE validation_loss IS NOT NULL;

-- The status page counts backup copies per run without reading every result,
-- and a worker's page lists its latest results.
CREATE INDEX results_superseded ON results (run_id) WHERE status = 'superseded';
CREATE INDEX results_worker ON results (worker_id, id DESC);

-- A result the coordinator turned away (bad hash, wrong size, NaN, ...), and why.
CREATE TABLE rejections (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    worker_id   uuid        NOT NULL REFERENCES workers (id),
    lease_id    uuid,
    run_id      bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        integer     NOT NULL,
    unit        integer     NOT NULL,
    reason      text        NOT NULL,
    message     text        NOT NULL
);
CREATE INDEX rejections_run ON rejections (run_id, reason);
CREATE INDEX rejections_worker ON rejections (worker_id, id);

-- Credit: the tokens of a worker's units that went into an applied step (or
-- a recorded evaluation), times the model's FLOPs per token for that work.
CREATE TABLE contributions (
    run_id        bigint           NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    worker_id     uuid             NOT NULL REFERENCES workers (id),
    units         integer          NOT NULL DEFAULT 0,
    tokens        bigint           NOT NULL DEFAULT 0,
    credit_flops  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, worker_id)
);
CREATE INDEX contributions_credit ON contributions (run_id, credit_flops DESC);

-- A worker's record over all runs: what verification has seen of it.
ALTER TABLE workers
    ADD COLUMN accepted_units    integer          NOT NULL DEFAULT 0,
    ADD COLUMN rejected_results  integer          NOT NULL DEFAULT 0,
    -- Accepted results since its last rejection.
    ADD COLUMN consecutive_valid integer          NOT NULL DEFAULT 0,
    ADD COLUMN credit_flops      double precision NOT NULL DEFAULT 0;
CREATE INDEX workers_last_seen ON workers (last_seen_at DESC);
-- A worker's page is found by name.
CREATE INDEX workers_name ON workers (name, last_seen_at DESC);

-- As in 0002, with `step_complete` asking about the submitted unit's own
-- kind: a training result completes the step, an evaluation result the
-- version's evaluation. (The kind is spelled out in each query, so the
-- cached generic plan can use the partial indexes.)
CREATE OR REPLACE FUNCTION koinon_submit(p_lease uuid, p_worker uuid, p_payload text, p_loss double precision, p_tokens bigint)
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
    -- Unit before lease (0002): copies of a unit submitted at once queue on the unit.
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
    INSERT INTO results (lease_id, run_id, step, unit, worker_id, payload_sha256, loss, tokens, status)
    VALUES (p_lease, l.run_id, l.step, l.unit, p_worker, p_payload, p_loss, p_tokens, 'accepted');
    UPDATE units SET state = 'accepted' WHERE run_id = l.run_id AND step = l.step AND unit = l.unit;
    UPDATE leases SET state = CASE WHEN id = p_lease THEN 'submitted' ELSE 'superseded' END
    WHERE run_id = l.run_id AND step = l.step AND unit = l.unit AND (id = p_lease OR state = 'active');
    IF unit_kind = 'train' THEN
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
