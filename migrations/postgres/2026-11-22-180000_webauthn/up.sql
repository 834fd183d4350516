-- WebAuthn security keys (issue 4). A WebAuthn key is a `hardware_keys` row of kind
-- 'webauthn' (its `public_key` holds the credential id, base64url); the credential
-- itself, as webauthn-rs serialises it, and what its attestation said live here.
CREATE TABLE webauthn_credentials (
    key_id TEXT PRIMARY KEY NOT NULL REFERENCES hardware_keys(id),
    credential_id TEXT NOT NULL UNIQUE,
    credential TEXT NOT NULL,
    aaguid TEXT NOT NULL,
    attestation_ca TEXT NOT NULL,
    attestation_ca_sha256 TEXT NOT NULL,
    user_verified BOOLEAN NOT NULL,
    sign_count BIGINT NOT NULL
);

-- A registration or authentication begun in one request and finished in another,
-- possibly on another app node: the webauthn-rs state, single-use and short-lived,
-- bound to the browser session that began it.
CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    session_hash TEXT NOT NULL REFERENCES sessions(token_hash),
    user_id TEXT NOT NULL REFERENCES users(id),
    state TEXT NOT NULL,
    code_hash TEXT,
    label TEXT,
    origin TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX webauthn_ceremonies_session ON webauthn_ceremonies(session_hash);
