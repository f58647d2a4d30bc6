-- 004: pool statistics and the audit log (DESIGN.md "Observability and audit (v3)").

-- When a contract last became accepted and paid (accept, payment, retry): time to provision and
-- waiting time run from here. Set by a trigger so that every path that makes a contract
-- provisionable sets it, in the same statement; a failed handed-off contract (provisioning →
-- accepted) keeps its original time.
ALTER TABLE contract_sign_requests ADD COLUMN provisionable_at timestamptz;
UPDATE contract_sign_requests SET provisionable_at = updated_at
    WHERE status = 'accepted' AND payment_status = 'succeeded';
CREATE FUNCTION contract_set_provisionable_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.provisionable_at := clock_timestamp();
    RETURN NEW;
END $$;
CREATE TRIGGER contract_provisionable_at BEFORE UPDATE OF status, payment_status ON contract_sign_requests
    FOR EACH ROW
    WHEN (NEW.status = 'accepted' AND NEW.payment_status = 'succeeded'
          AND NOT (OLD.status IN ('accepted', 'provisioning') AND OLD.payment_status = 'succeeded'))
    EXECUTE FUNCTION contract_set_provisionable_at();

-- The pool an event counts for: a teardown's machine pool; else the acting agent's pool, else (a
-- provider completing a handed-off contract) the pool of the lease's grantee. And, on a
-- `provisioned` event, the time to provision (from provisionable_at), so statistics read it from
-- the index without visiting contracts. Filled by a trigger so that every writer of the lock
-- history (store/events.ts and its CTE form) records them alike.
ALTER TABLE contract_events ADD COLUMN pool_id text, ADD COLUMN provision_ms bigint;
CREATE FUNCTION contract_event_pool() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event = 'provisioned' AND NEW.provision_ms IS NULL THEN
        NEW.provision_ms := (SELECT (extract(epoch FROM NEW.at - c.provisionable_at) * 1000)::bigint
                             FROM contract_sign_requests c WHERE c.contract_id = NEW.contract_id);
    END IF;
    IF NEW.pool_id IS NULL AND NEW.action = 'terminate' THEN
        NEW.pool_id := (SELECT c.provisioned_pool_id FROM contract_sign_requests c WHERE c.contract_id = NEW.contract_id);
    END IF;
    IF NEW.pool_id IS NULL THEN
        NEW.pool_id := COALESCE(
            (SELECT d.pool_id FROM provider_agent_delegations d WHERE d.agent_pubkey = NEW.agent_pubkey),
            (SELECT d.pool_id FROM contract_sign_requests c
               JOIN provider_agent_delegations d ON d.agent_pubkey = c.lease_agent
              WHERE c.contract_id = NEW.contract_id));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER contract_event_pool BEFORE INSERT ON contract_events
    FOR EACH ROW EXECUTE FUNCTION contract_event_pool();
UPDATE contract_events e SET pool_id = d.pool_id
    FROM provider_agent_delegations d WHERE d.agent_pubkey = e.agent_pubkey;
-- Statistics read outcomes of one pool over a time range; only outcome events are indexed.
CREATE INDEX contract_events_pool_outcome_idx ON contract_events (pool_id, at)
    INCLUDE (event, action, contract_id, lock_token, provision_ms)
    WHERE event IN ('provisioned', 'failed', 'expired', 'terminated');
-- "Was this expired lease confirmed after all?": one small index probe per expiry.
CREATE INDEX contract_events_provisioned_idx ON contract_events (contract_id, lock_token) WHERE event = 'provisioned';

-- Waiting contracts per offering (statistics, the pools list, /metrics) from the index alone.
CREATE INDEX contract_sign_requests_waiting_idx ON contract_sign_requests (provider_pubkey, offering_id)
    INCLUDE (provisionable_at, created_at)
    WHERE status = 'accepted' AND payment_status = 'succeeded';

-- The concurrency limit an agent reports in its heartbeat (NULL: never sent, unlimited).
ALTER TABLE agent_status ADD COLUMN max_concurrent integer CHECK (max_concurrent BETWEEN 1 AND 1000);

-- Who did what: written in the transaction of the change it records (store/audit.ts).
CREATE TABLE audit_events (
    id               bigserial PRIMARY KEY,
    provider_pubkey  text NOT NULL,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind             text NOT NULL CHECK (kind IN
        ('pool_created', 'pool_updated', 'pool_deleted', 'token_created', 'token_revoked', 'agent_setup', 'agent_revoked',
         'agent_state_changed', 'agent_cooldown', 'agent_health_reset', 'offerings_imported', 'offering_created',
         'offering_updated', 'offering_deleted', 'contract_accepted', 'contract_rejected', 'contract_cancelled',
         'contract_retried', 'contract_terminated_by_hand', 'payment_recorded', 'terminate_requested')),
    actor_kind       text NOT NULL CHECK (actor_kind IN ('provider', 'agent', 'customer', 'operator', 'system')),
    actor_pubkey     text,
    subject_type     text NOT NULL CHECK (subject_type IN ('pool', 'token', 'agent', 'offering', 'contract', 'provider')),
    subject_id       text NOT NULL,
    subject_pool_id  text,
    detail           jsonb
);
-- Paging newest first per provider, with and without a kind filter; retention by time.
CREATE INDEX audit_events_provider_idx ON audit_events (provider_pubkey, id);
CREATE INDEX audit_events_provider_kind_idx ON audit_events (provider_pubkey, kind, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);

