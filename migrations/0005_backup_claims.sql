-- Backup copies go to stragglers: units whose oldest active lease is older
-- than the backup delay. Claims look them up by lease age, so a claim made
-- while every unit of a large step is out reads the few old leases, not all
-- of them (with 4,096 leases out, 1,000 idle workers each grouping every
-- active lease held PostgreSQL for seconds).
CREATE INDEX leases_active_leased_at ON leases (leased_at) WHERE state = 'active';
