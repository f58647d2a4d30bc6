-- 001: providers, pools, setup tokens, delegations, agent status, offerings, contracts with
-- fenced provisioning leases, lock history, and the shared state of replicas (server key,
-- nonces, rate limits). Frozen once released: later changes are new numbered files.

CREATE TABLE provider_registrations (
    pubkey      text PRIMARY KEY CHECK (pubkey ~ '^[0-9a-f]{64}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_pools (
    pool_id           text PRIMARY KEY,
    provider_pubkey   text NOT NULL REFERENCES provider_registrations (pubkey),
    name              text NOT NULL,
    location          text NOT NULL CHECK (location IN ('europe', 'na', 'latam', 'apac', 'mena', 'ssa', 'cis')),
    provisioner_type  text NOT NULL CHECK (provisioner_type IN ('proxmox', 'script', 'manual')),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT agent_pools_name_unique UNIQUE (provider_pubkey, name),
    -- lets offerings reference (pool, provider) so an offering can never name another provider's pool
    CONSTRAINT agent_pools_pool_provider_unique UNIQUE (pool_id, provider_pubkey)
);
-- Routing: "oldest pool of this provider with this location and type" is the first index entry.
CREATE INDEX agent_pools_route_idx ON agent_pools (provider_pubkey, location, provisioner_type, created_at, pool_id);

CREATE TABLE agent_setup_tokens (
    token_id       text PRIMARY KEY,
    token_hash     text NOT NULL UNIQUE,        -- sha256 of the full token; the token itself is never stored
    pool_id        text NOT NULL REFERENCES agent_pools (pool_id) ON DELETE CASCADE,
    label          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    used_by_agent  text
);
CREATE INDEX agent_setup_tokens_pool_idx ON agent_setup_tokens (pool_id, created_at);
CREATE INDEX agent_setup_tokens_unused_expiry_idx ON agent_setup_tokens (expires_at) WHERE used_at IS NULL;

CREATE TABLE provider_agent_delegations (
    agent_pubkey     text PRIMARY KEY CHECK (agent_pubkey ~ '^[0-9a-f]{64}$'),
    provider_pubkey  text NOT NULL REFERENCES provider_registrations (pubkey),
    pool_id          text REFERENCES agent_pools (pool_id) ON DELETE SET NULL,  -- NULL: legacy agent, sees every contract
    permissions      text[] NOT NULL,
    label            text,
    issued_at        timestamptz NOT NULL,
    signature        text NOT NULL,
    setup_token_id   text,
    revoked_at       timestamptz
);
CREATE INDEX provider_agent_delegations_pool_idx ON provider_agent_delegations (pool_id);
CREATE INDEX provider_agent_delegations_provider_idx ON provider_agent_delegations (provider_pubkey);

CREATE TABLE agent_status (
    agent_pubkey      text PRIMARY KEY REFERENCES provider_agent_delegations (agent_pubkey) ON DELETE CASCADE,
    last_seen_at      timestamptz NOT NULL,
    version           text,
    provisioner_type  text,
    active_contracts  integer,
    capabilities      jsonb
);

CREATE TABLE provider_offerings (
    provider_pubkey     text NOT NULL REFERENCES provider_registrations (pubkey),
    offering_id         text NOT NULL CHECK (offering_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    name                text NOT NULL,
    product_type        text NOT NULL,
    datacenter_country  text NOT NULL CHECK (datacenter_country ~ '^[A-Z]{2}$'),
    datacenter_region   text NOT NULL CHECK (datacenter_region IN ('europe', 'na', 'latam', 'apac', 'mena', 'ssa', 'cis')),
    monthly_price       numeric(12, 2) NOT NULL CHECK (monthly_price >= 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    provisioner_type    text NOT NULL CHECK (provisioner_type IN ('proxmox', 'script', 'manual')),
    provisioner_config  jsonb,
    agent_pool_id       text,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_pubkey, offering_id),
    CONSTRAINT provider_offerings_pool_fk FOREIGN KEY (agent_pool_id, provider_pubkey)
        REFERENCES agent_pools (pool_id, provider_pubkey)
);
CREATE INDEX provider_offerings_explicit_pool_idx ON provider_offerings (agent_pool_id) WHERE agent_pool_id IS NOT NULL;
CREATE INDEX provider_offerings_route_idx ON provider_offerings (provider_pubkey, datacenter_region, provisioner_type) WHERE agent_pool_id IS NULL;

CREATE TABLE contract_sign_requests (
    contract_id       text PRIMARY KEY,
    provider_pubkey   text NOT NULL,
    offering_id       text NOT NULL,
    customer_pubkey   text NOT NULL CHECK (customer_pubkey ~ '^[0-9a-f]{64}$'),
    ssh_pubkey        text,
    instance_config   jsonb,
    status            text NOT NULL DEFAULT 'requested' CHECK (status IN
        ('requested', 'accepted', 'rejected', 'provisioning', 'provisioned', 'provisioning_failed', 'cancelled')),
    payment_status    text NOT NULL DEFAULT 'pending' CHECK (payment_status IN ('pending', 'succeeded', 'failed', 'refunded')),
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- The live lease: holder and expiry. Cleared when the lease ends or the sweeper expires it.
    provisioning_lock_agent       text,
    provisioning_lock_at          timestamptz,
    provisioning_lock_expires_at  timestamptz,
    -- Fencing: +1 on every grant, never reset. lease_agent is the grantee of the current token
    -- (kept after the lease ends); lease_outcome says how the holder ended it (NULL while open).
    provisioning_lock_token       bigint NOT NULL DEFAULT 0,
    lease_agent                   text,
    lease_outcome                 text CHECK (lease_outcome IN ('released', 'failed', 'handed_off', 'provisioned')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz,
    last_error        text,
    provisioned_by    text,
    provisioned_at    timestamptz,
    instance_details  jsonb
    -- No foreign key to provider_offerings: an offering whose contracts are all finished may be
    -- deleted (DESIGN.md). Creation and deletion lock the offering row instead (store/offerings.ts).
);
CREATE INDEX contract_sign_requests_provider_idx ON contract_sign_requests (provider_pubkey, created_at DESC, contract_id DESC);
-- Every status change rewrites each index entry of the row (no HOT update), so contracts carry
-- only the indexes a query needs, most of them partial.
-- Deleting an offering: are any of its contracts unfinished?
CREATE INDEX contract_sign_requests_open_offering_idx ON contract_sign_requests (provider_pubkey, offering_id)
    WHERE status IN ('requested', 'accepted', 'provisioning', 'provisioning_failed');
-- Work queue: only paid, accepted contracts are in it, so pending-provision stays small and fast.
CREATE INDEX contract_sign_requests_pending_idx ON contract_sign_requests (provider_pubkey, created_at, contract_id)
    WHERE status = 'accepted' AND payment_status = 'succeeded';
-- Pool statistics: active contracts per offering.
CREATE INDEX contract_sign_requests_active_offering_idx ON contract_sign_requests (provider_pubkey, offering_id)
    WHERE status IN ('accepted', 'provisioning', 'provisioned') AND payment_status = 'succeeded';
-- Live leases: the sweeper, the expiry timer and revocation (few rows: only leases held now).
CREATE INDEX contract_sign_requests_lock_expiry_idx ON contract_sign_requests (provisioning_lock_expires_at)
    WHERE provisioning_lock_agent IS NOT NULL;
CREATE INDEX contract_sign_requests_provisioned_by_idx ON contract_sign_requests (provisioned_by)
    WHERE status = 'provisioned';

CREATE TABLE contract_events (
    event_id      bigserial PRIMARY KEY,
    contract_id   text NOT NULL REFERENCES contract_sign_requests (contract_id),
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    event         text NOT NULL CHECK (event IN
        ('granted', 'renewed', 'released', 'expired', 'provisioned', 'failed', 'handed_off', 'cancelled', 'retried')),
    agent_pubkey  text,
    lock_token    bigint NOT NULL,
    detail        text
);
CREATE INDEX contract_events_contract_idx ON contract_events (contract_id, event_id);

-- The server's Ed25519 key for delegation signatures: one row, created once, shared by replicas.
CREATE TABLE server_keys (
    id          smallint PRIMARY KEY CHECK (id = 1),
    seed_hex    text NOT NULL,
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Spent request nonces. UNLOGGED: a crash loses at most one signing window of records.
CREATE UNLOGGED TABLE request_nonces (
    pubkey      text NOT NULL,
    nonce       text NOT NULL,
    request_at  timestamptz NOT NULL,
    PRIMARY KEY (pubkey, nonce)
);
CREATE INDEX request_nonces_request_at_idx ON request_nonces (request_at);

-- Fixed-window rate-limit counters shared by replicas.
CREATE UNLOGGED TABLE rate_limits (
    bucket        text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
