-- 003: teardown after provisioning (DESIGN.md "Teardown after provisioning (v3)").

-- Where a machine lives and who tears it down: the pool whose agent built it and the provisioner
-- type it was built with (teardowns route by these, never by the offering's current route), the
-- sticky owner (provisioned_by, or the last grantee of a provision cancelled mid-way), the
-- hypervisor scope it lives in, whether its teardown is a person's (manual), and the outcome.
ALTER TABLE contract_sign_requests
    ADD COLUMN provisioned_pool_id  text,
    ADD COLUMN provisioned_type     text CHECK (provisioned_type IN ('proxmox', 'script', 'manual')),
    ADD COLUMN teardown_owner       text,
    ADD COLUMN host_scope           text,
    ADD COLUMN teardown_handed_off  boolean NOT NULL DEFAULT false,
    ADD COLUMN terminated_at        timestamptz,
    ADD COLUMN terminated_by        text;

-- A teardown lease ends with 'terminated'; 'closed' is a lease fenced off by someone else (a
-- provider marking the contract terminated by hand).
ALTER TABLE contract_sign_requests DROP CONSTRAINT contract_sign_requests_lease_outcome_check;
ALTER TABLE contract_sign_requests ADD CONSTRAINT contract_sign_requests_lease_outcome_check CHECK (lease_outcome IN
    ('released', 'failed', 'handed_off', 'provisioned', 'terminated', 'closed'));

-- Machines provisioned before this migration: built by provisioned_by in its pool.
UPDATE contract_sign_requests c SET
    provisioned_pool_id = d.pool_id,
    teardown_owner = d.agent_pubkey,
    host_scope = c.instance_details ->> 'host_scope'
  FROM provider_agent_delegations d
  WHERE d.agent_pubkey = c.provisioned_by AND c.status = 'provisioned';
UPDATE contract_sign_requests c SET provisioned_type = o.provisioner_type
  FROM provider_offerings o
  WHERE o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id AND c.status = 'provisioned';

-- Every event says whether it belongs to building the machine or tearing it down.
ALTER TABLE contract_events ADD COLUMN action text NOT NULL DEFAULT 'provision' CHECK (action IN ('provision', 'terminate'));

-- Teardown work queue (few rows: only contracts being torn down).
CREATE INDEX contract_sign_requests_teardown_idx ON contract_sign_requests (provider_pubkey, created_at, contract_id)
    WHERE status = 'terminating';
-- Machines that exist, per pool and per owner (counts, deletion checks, ghosts).
CREATE INDEX contract_sign_requests_machine_pool_idx ON contract_sign_requests (provisioned_pool_id)
    WHERE status IN ('provisioned', 'terminating', 'termination_failed');
CREATE INDEX contract_sign_requests_machine_owner_idx ON contract_sign_requests (teardown_owner)
    WHERE status IN ('provisioned', 'terminating', 'termination_failed');
-- Deleting an offering: are any of its contracts unfinished or is a machine of it alive?
CREATE INDEX contract_sign_requests_live_offering_idx ON contract_sign_requests (provider_pubkey, offering_id)
    WHERE status IN ('requested', 'accepted', 'provisioning', 'provisioning_failed', 'provisioned', 'terminating', 'termination_failed');
DROP INDEX contract_sign_requests_open_offering_idx;

-- The last inventory an agent reported: contract ids of the tagged machines it sees.
CREATE TABLE agent_inventory (
    agent_pubkey  text PRIMARY KEY REFERENCES provider_agent_delegations (agent_pubkey) ON DELETE CASCADE,
    contract_ids  text[] NOT NULL,
    reported_at   timestamptz NOT NULL
);
