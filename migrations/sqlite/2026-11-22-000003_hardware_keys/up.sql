-- Hardware keys for privileged access (issue 4). Times are UTC.

-- An enrolled key. `public_key` is the SubjectPublicKeyInfo DER, base64url; a key
-- belongs to one user only. Revoked keys stay for the record.
CREATE TABLE hardware_keys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL CHECK (kind IN ('piv', 'webauthn')),
    label TEXT,
    slot TEXT,
    serial BIGINT,
    firmware TEXT,
    form_factor TEXT,
    pin_policy TEXT,
    touch_policy TEXT,
    public_key TEXT NOT NULL UNIQUE,
    attestation TEXT NOT NULL,
    enrolled_at TIMESTAMP NOT NULL,
    enrolled_by TEXT NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by TEXT
);
CREATE INDEX hardware_keys_user ON hardware_keys(user_id);

-- One-time codes with which a user enrolls a key; only the SHA-256 is kept.
CREATE TABLE key_enrollment_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    issued_by TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX key_enrollment_codes_user ON key_enrollment_codes(user_id);

-- Single-use login challenges, bound to one browser session and the server's origin.
CREATE TABLE key_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    session_hash TEXT NOT NULL REFERENCES sessions(token_hash),
    user_id TEXT NOT NULL REFERENCES users(id),
    nonce TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX key_challenges_session ON key_challenges(session_hash);

-- A session elevated by a proof: until when, the last proof (for step-up), by which key.
CREATE TABLE session_elevations (
    session_hash TEXT PRIMARY KEY NOT NULL REFERENCES sessions(token_hash),
    user_id TEXT NOT NULL REFERENCES users(id),
    key_id TEXT NOT NULL REFERENCES hardware_keys(id),
    elevated_at TIMESTAMP NOT NULL,
    elevated_until TIMESTAMP NOT NULL,
    last_proof_at TIMESTAMP NOT NULL
);
CREATE INDEX session_elevations_key ON session_elevations(key_id);
