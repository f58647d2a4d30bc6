-- Dashboard lists at fleet scale (issue 16). The contracts page filtered by status reads one page
-- newest first and counts the matches, both from this index (plain B-tree: PGlite runs the same
-- migrations, so no extension).
CREATE INDEX contract_sign_requests_provider_status_idx
    ON contract_sign_requests (provider_pubkey, status, created_at DESC, contract_id DESC);
