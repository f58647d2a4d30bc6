-- 006: fleet operations (DESIGN.md "Fleet operations (v3)"): drain, pause, health-based cool-down,
-- retry on another agent, capacity, fallback pools. The eligibility rule that reads these columns
-- is in server/src/store/eligibility.ts.

-- The agent's state (drain), health (consecutive failures, cool-down) and when it last got new work.
ALTER TABLE provider_agent_delegations
    ADD COLUMN state                    text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining')),
    ADD COLUMN state_reason             text,
    ADD COLUMN state_set_by             text CHECK (state_set_by IN ('provider', 'agent')),
    ADD COLUMN consecutive_failures     integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    ADD COLUMN cooldown_until           timestamptz,
    ADD COLUMN cooldowns_since_success  integer NOT NULL DEFAULT 0 CHECK (cooldowns_since_success >= 0),
    ADD COLUMN last_granted_at          timestamptz;

-- Pause, and where work goes when the pool cannot take it. The fallback names a pool of the same
-- provider (the composite key makes that a constraint; the API checks type, location and cycles
-- under a lock on the provider's pools and answers 400 before this could fail).
ALTER TABLE agent_pools
    ADD COLUMN paused                  boolean NOT NULL DEFAULT false,
    ADD COLUMN fallback_pool_id        text,
    ADD COLUMN fallback_after_seconds  integer DEFAULT 300 CHECK (fallback_after_seconds BETWEEN 0 AND 86400),
    ADD COLUMN fallback_cross_region   boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT agent_pools_fallback_fk FOREIGN KEY (fallback_pool_id, provider_pubkey)
        REFERENCES agent_pools (pool_id, provider_pubkey);
-- "Which pools fall back to this one?" (the reverse chain of a caller's pool; deleting a pool).
CREATE INDEX agent_pools_fallback_idx ON agent_pools (fallback_pool_id) WHERE fallback_pool_id IS NOT NULL;

-- Grants record whether they went to a fallback pool; failures their class (only `agent` failures
-- count against an agent's health and a pool's success rate).
ALTER TABLE contract_events
    ADD COLUMN via_fallback  boolean,
    ADD COLUMN error_class   text CHECK (error_class IN ('agent', 'contract'));

-- Statistics read outcomes from the index alone; they now also filter on error_class.
DROP INDEX contract_events_pool_outcome_idx;
CREATE INDEX contract_events_pool_outcome_idx ON contract_events (pool_id, at)
    INCLUDE (event, action, contract_id, lock_token, provision_ms, error_class)
    WHERE event IN ('provisioned', 'failed', 'expired', 'terminated');
-- An agent's success rate over 24 h (the agent object), the same outcomes per agent.
CREATE INDEX contract_events_agent_outcome_idx ON contract_events (agent_pubkey, at)
    INCLUDE (event, action, contract_id, lock_token, error_class)
    WHERE event IN ('provisioned', 'failed', 'expired');

-- The leases an agent holds (capacity, live_leases, drained): few rows, only leases held now.
CREATE INDEX contract_sign_requests_lock_agent_idx ON contract_sign_requests (provisioning_lock_agent)
    INCLUDE (status, provisioning_lock_expires_at)
    WHERE provisioning_lock_agent IS NOT NULL;
