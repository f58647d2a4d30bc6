-- 002: the teardown statuses and events of DESIGN.md "Teardown after provisioning (v3)", allowed
-- ahead of the feature so that core's state table and the schema list the same statuses. Nothing
-- writes them yet. Each CHECK is replaced by a wider one, so every existing row still satisfies it.

ALTER TABLE contract_sign_requests DROP CONSTRAINT contract_sign_requests_status_check;
ALTER TABLE contract_sign_requests ADD CONSTRAINT contract_sign_requests_status_check CHECK (status IN
    ('requested', 'accepted', 'rejected', 'provisioning', 'provisioned', 'provisioning_failed', 'cancelled',
     'terminating', 'terminated', 'termination_failed'));

ALTER TABLE contract_events DROP CONSTRAINT contract_events_event_check;
ALTER TABLE contract_events ADD CONSTRAINT contract_events_event_check CHECK (event IN
    ('granted', 'renewed', 'released', 'expired', 'provisioned', 'failed', 'handed_off', 'cancelled', 'retried',
     'terminate_requested', 'terminated', 'termination_failed'));
