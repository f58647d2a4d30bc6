-- 008: an agent's recent provision failures and expiries, alone. Retry elsewhere
-- (store/eligibility.ts retryElsewhereCte) reads them on every claim and pending-provision;
-- contract_events_agent_outcome_idx also holds every success, so a busy agent's claim walked all
-- of its successes inside the retry window (thousands of rows at a few hundred contracts a
-- second, each with a heap fetch). Failures are few; this index holds nothing else.
-- IF NOT EXISTS: on a large contract_events, create it by hand CONCURRENTLY before the upgrade
-- (docs/operations.md, "Upgrades"); this then finds it and returns at once.
CREATE INDEX IF NOT EXISTS contract_events_agent_failure_idx ON contract_events (agent_pubkey, at) INCLUDE (contract_id)
    WHERE event IN ('failed', 'expired') AND action = 'provision';
