-- Foreign keys that the statements inserting the rows already imply go.
-- PostgreSQL checks a foreign key with a lookup per inserted row (a trigger
-- run through SPI): under the load benchmark those checks were 12% of both
-- cores, the largest single part of PostgreSQL's time, for five lookups per
-- lease → submit cycle. Two remain: a result's lease and a lease's unit,
-- which also carry the cascade (deleting a run still removes its steps,
-- units, leases and results).
--
-- results: every INSERT (koinon_submit, koinon_submit_batch) takes run_id,
-- step and unit from the result's lease, and its worker is the lease's
-- ('foreign_lease' otherwise). The lease's foreign key now cascades, so that
-- removing a unit's leases removes their results as the unit key did.
ALTER TABLE results
    DROP CONSTRAINT results_worker_id_fkey,
    DROP CONSTRAINT results_run_id_step_unit_fkey,
    DROP CONSTRAINT results_lease_id_fkey,
    ADD CONSTRAINT results_lease_id_fkey FOREIGN KEY (lease_id) REFERENCES leases (id) ON DELETE CASCADE;

-- leases: every claim takes its worker from the workers table in the same
-- statement (to check that the worker may work), and workers are never
-- deleted (a banned worker's row stays, with its reason).
ALTER TABLE leases DROP CONSTRAINT leases_worker_id_fkey;
