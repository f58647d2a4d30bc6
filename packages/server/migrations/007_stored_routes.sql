-- 007: stored routes. Each offering carries the pool the routing rule resolves it to, and each
-- contract that can still become provision work carries its offering's route, maintained in the
-- transaction of every change that can move it (store/routing.ts refreshRoutes; a new contract
-- copies its offering's, below). Claim,
-- pending-provision and the work notices then walk one index per pool in order instead of
-- resolving the route of every contract they pass.
ALTER TABLE provider_offerings ADD COLUMN route_pool_id text;
ALTER TABLE contract_sign_requests ADD COLUMN route_pool_id text;

UPDATE provider_offerings o SET route_pool_id = COALESCE(o.agent_pool_id, (
    SELECT p.pool_id FROM agent_pools p
    WHERE p.provider_pubkey = o.provider_pubkey AND p.location = o.datacenter_region AND p.provisioner_type = o.provisioner_type
    ORDER BY p.created_at, p.pool_id LIMIT 1));
UPDATE contract_sign_requests c SET route_pool_id = o.route_pool_id
FROM provider_offerings o
WHERE o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id AND o.route_pool_id IS NOT NULL
  AND c.status IN ('requested', 'accepted', 'provisioning', 'provisioning_failed');

-- A new contract takes its offering's route, whoever inserts it (the API reads the offering FOR
-- SHARE in the same statement, so a concurrent refresh waits for it or it sees the refresh).
CREATE FUNCTION dc_contract_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT o.route_pool_id INTO NEW.route_pool_id FROM provider_offerings o
    WHERE o.provider_pubkey = NEW.provider_pubkey AND o.offering_id = NEW.offering_id;
    RETURN NEW;
END $$;
CREATE TRIGGER contract_sign_requests_route BEFORE INSERT ON contract_sign_requests
    FOR EACH ROW EXECUTE FUNCTION dc_contract_route();

-- A pool's provision work queue in grant order (claim, pending-provision, notices).
CREATE INDEX contract_sign_requests_route_idx ON contract_sign_requests (route_pool_id, created_at, contract_id)
    WHERE status = 'accepted' AND payment_status = 'succeeded';
-- An agent's own open provision leases (claim returns them first): a probe, not a walk of the queue.
CREATE INDEX contract_sign_requests_lease_agent_idx ON contract_sign_requests (lease_agent, created_at, contract_id)
    WHERE lease_outcome IS NULL AND status = 'accepted' AND payment_status = 'succeeded';
-- "Which offerings does this pool serve?" (pools list, offering filter, route refresh).
CREATE INDEX provider_offerings_route_pool_idx ON provider_offerings (route_pool_id) WHERE route_pool_id IS NOT NULL;
