-- Koinon's schema, version 1: workers, runs, parameter versions, steps,
-- work units, leases and results. Large immutable data (parameters,
-- optimizer state, accepted gradients, dataset shards) lives in the
-- content-addressed blob store; rows name blobs by SHA-256 (hex).

CREATE TABLE workers (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    -- SHA-256 of the worker's secret token; the token itself is never stored.
    token_sha256  bytea       NOT NULL,
    backend       text        NOT NULL DEFAULT '',
    threads       integer     NOT NULL DEFAULT 0,
    version       text        NOT NULL DEFAULT '',
    address       text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

-- Requests authenticate by token: look workers up by its hash.
CREATE UNIQUE INDEX workers_token ON workers (token_sha256);

CREATE TABLE runs (
    id              bigserial   PRIMARY KEY,
    name            text        NOT NULL,
    state           text        NOT NULL DEFAULT 'active'
                                CHECK (state IN ('active', 'paused', 'finished')),
    -- The run.yaml as given, and what it resolved to at creation.
    config_yaml     text        NOT NULL,
    model_config    jsonb       NOT NULL,
    dataset_path    text        NOT NULL,
    dataset_sha256  text        NOT NULL,
    -- The dataset's tokenizer files in the blob store (exported with the model).
    tokenizer_vocab_sha256   text NOT NULL,
    tokenizer_merges_sha256  text NOT NULL,
    seed            bigint      NOT NULL,
    total_steps     integer     NOT NULL CHECK (total_steps > 0),
    units_per_step  integer     NOT NULL CHECK (units_per_step > 0),
    -- Parameter version being trained: step s turns version s into s + 1.
    current_step    integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

CREATE TABLE parameter_versions (
    run_id            bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    version           integer     NOT NULL,
    parameters_sha256 text        NOT NULL,
    -- Set on full checkpoints only: AdamW moments and step, restorable.
    optimizer_sha256  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, version)
);

CREATE TABLE steps (
    run_id           bigint           NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step             integer          NOT NULL,
    state            text             NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'applied')),
    train_loss       double precision,
    validation_loss  double precision,
    learning_rate    double precision,
    gradient_norm    double precision,
    tokens           bigint           NOT NULL DEFAULT 0,
    opened_at        timestamptz      NOT NULL DEFAULT now(),
    applied_at       timestamptz,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE units (
    run_id   bigint  NOT NULL,
    step     integer NOT NULL,
    unit     integer NOT NULL,
    state    text    NOT NULL DEFAULT 'pending'
             CHECK (state IN ('pending', 'leased', 'submitted', 'accepted')),
    PRIMARY KEY (run_id, step, unit),
    FOREIGN KEY (run_id, step) REFERENCES steps (run_id, step) ON DELETE CASCADE
);
-- Claiming looks for pending units of open steps.
CREATE INDEX units_pending ON units (run_id, step, unit) WHERE state = 'pending';

CREATE TABLE leases (
    id          uuid        PRIMARY KEY,
    run_id      bigint      NOT NULL,
    step        integer     NOT NULL,
    unit        integer     NOT NULL,
    worker_id   uuid        NOT NULL REFERENCES workers (id),
    state       text        NOT NULL DEFAULT 'active'
                CHECK (state IN ('active', 'expired', 'released', 'submitted', 'superseded')),
    is_backup   boolean     NOT NULL DEFAULT false,
    leased_at   timestamptz NOT NULL DEFAULT now(),
    deadline    timestamptz NOT NULL,
    FOREIGN KEY (run_id, step, unit) REFERENCES units (run_id, step, unit) ON DELETE CASCADE
);
CREATE INDEX leases_active_deadline ON leases (deadline) WHERE state = 'active';
CREATE INDEX leases_unit ON leases (run_id, step, unit);

CREATE TABLE results (
    id              bigserial        PRIMARY KEY,
    lease_id        uuid             NOT NULL UNIQUE REFERENCES leases (id),
    run_id          bigint           NOT NULL,
    step            integer          NOT NULL,
    unit            integer          NOT NULL,
    worker_id       uuid             NOT NULL REFERENCES workers (id),
    -- SHA-256 of the gradient payload; the payload itself is a blob until its step is applied.
    payload_sha256  text             NOT NULL,
    loss            double precision NOT NULL,
    tokens          integer          NOT NULL,
    status          text             NOT NULL CHECK (status IN ('accepted', 'rejected', 'superseded')),
    reason          text,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    FOREIGN KEY (run_id, step, unit) REFERENCES units (run_id, step, unit) ON DELETE CASCADE
);
-- At most one accepted result per unit: the first verified copy wins.
CREATE UNIQUE INDEX results_one_accepted ON results (run_id, step, unit) WHERE status = 'accepted';
