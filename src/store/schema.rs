//! The one diesel schema for both backends. Backend-only columns (the SQLite FTS5
//! table, PostgreSQL's generated `search_tsv`) are used through raw SQL only.

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        team_id -> Nullable<Text>,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    setup_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    throttle (key) {
        key -> Text,
        window_start -> Timestamp,
        hits -> Integer,
    }
}

diesel::table! {
    client_statuses (code) {
        code -> Text,
        label -> Text,
        position -> Integer,
        active -> Bool,
    }
}

diesel::table! {
    clients (pk) {
        pk -> BigInt,
        id -> Text,
        kind -> Text,
        name -> Text,
        company -> Nullable<Text>,
        status -> Text,
        source -> Nullable<Text>,
        address -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        duplicate_of -> Nullable<Text>,
        search_text -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Text>,
        last_contact_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_tags (client_id, tag) {
        client_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    client_contacts (id) {
        id -> Text,
        client_id -> Text,
        kind -> Text,
        value -> Text,
        normalized -> Text,
        label -> Nullable<Text>,
        position -> Integer,
    }
}

diesel::table! {
    timeline_entries (id) {
        id -> Text,
        client_id -> Text,
        kind -> Text,
        occurred_at -> Timestamp,
        author_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        body -> Nullable<Text>,
        call_direction -> Nullable<Text>,
        call_duration_secs -> Nullable<Integer>,
        call_outcome -> Nullable<Text>,
        recording_url -> Nullable<Text>,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deals (id) {
        id -> Text,
        client_id -> Text,
        title -> Text,
        amount_e4 -> BigInt,
        currency -> Text,
        stage -> Text,
        expected_close -> Nullable<Date>,
        owner_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        lost_reason -> Nullable<Text>,
        created_by -> Nullable<Text>,
        reached_stage -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        id -> Text,
        at -> Timestamp,
        request_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_role -> Nullable<Text>,
        session_ref -> Nullable<Text>,
        action -> Text,
        object_kind -> Nullable<Text>,
        object_ids -> Text,
        object_count -> Integer,
        outcome -> Text,
        detail -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        prev_hash -> Nullable<Binary>,
        hash -> Nullable<Binary>,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Binary,
    }
}

diesel::table! {
    audit_checkpoints (seq) {
        seq -> BigInt,
        head_hash -> Binary,
        at -> Timestamp,
        key_id -> Text,
        signature -> Binary,
    }
}

diesel::table! {
    hardware_keys (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        label -> Nullable<Text>,
        slot -> Nullable<Text>,
        serial -> Nullable<BigInt>,
        firmware -> Nullable<Text>,
        form_factor -> Nullable<Text>,
        pin_policy -> Nullable<Text>,
        touch_policy -> Nullable<Text>,
        public_key -> Text,
        attestation -> Text,
        enrolled_at -> Timestamp,
        enrolled_by -> Text,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    key_enrollment_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        issued_by -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    key_challenges (id) {
        id -> Text,
        session_hash -> Text,
        user_id -> Text,
        nonce -> Text,
        origin -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    session_elevations (session_hash) {
        session_hash -> Text,
        user_id -> Text,
        key_id -> Text,
        elevated_at -> Timestamp,
        elevated_until -> Timestamp,
        last_proof_at -> Timestamp,
    }
}

diesel::table! {
    job_runs (job, slot) {
        job -> Text,
        slot -> Timestamp,
        node -> Text,
        claimed_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        ok -> Nullable<Bool>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        kind -> Text,
        severity -> Text,
        audience -> Text,
        subject_user -> Nullable<Text>,
        summary -> Text,
        detail -> Text,
        evidence -> Text,
        dedupe_key -> Nullable<Text>,
        raised_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        ack_comment -> Nullable<Text>,
    }
}

diesel::table! {
    audit_archives (last_seq) {
        last_seq -> BigInt,
        first_seq -> BigInt,
        events -> BigInt,
        first_prev_hash -> Binary,
        last_hash -> Binary,
        body_sha256 -> Binary,
        file_name -> Text,
        created_at -> Timestamp,
        key_id -> Text,
        signature -> Binary,
    }
}

diesel::table! {
    deal_stages (code) {
        code -> Text,
        label -> Text,
        position -> Integer,
        kind -> Text,
        active -> Bool,
    }
}

diesel::table! {
    deal_stage_changes (id) {
        id -> Text,
        deal_id -> Text,
        from_stage -> Nullable<Text>,
        to_stage -> Text,
        lost_reason -> Nullable<Text>,
        changed_at -> Timestamp,
        changed_by -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        title -> Text,
        notes -> Nullable<Text>,
        due_at -> Timestamp,
        priority -> Text,
        assignee_id -> Text,
        team_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        deal_id -> Nullable<Text>,
        done_at -> Nullable<Timestamp>,
        done_by -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        reminded_at -> Nullable<Timestamp>,
        escalated_at -> Nullable<Timestamp>,
        project_id -> Nullable<Text>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        task_id -> Nullable<Text>,
        title -> Text,
        due_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
        email_to -> Nullable<Text>,
        emailed_at -> Nullable<Timestamp>,
        email_attempts -> Integer,
    }
}

diesel::table! {
    notification_settings (user_id) {
        user_id -> Text,
        email -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(users -> teams (team_id));
diesel::joinable!(hardware_keys -> users (user_id));
diesel::joinable!(session_elevations -> hardware_keys (key_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    teams,
    users,
    setup_tokens,
    sessions,
    throttle,
    client_statuses,
    clients,
    client_tags,
    client_contacts,
    timeline_entries,
    deals,
    audit_events,
    audit_head,
    audit_checkpoints,
    audit_archives,
    hardware_keys,
    key_enrollment_codes,
    key_challenges,
    session_elevations,
    job_runs,
    alerts,
    deal_stages,
    deal_stage_changes,
    tasks,
    notifications,
    notification_settings,
);

// Data-loss controls (exports, seeds, decoys, reassignments).

diesel::table! {
    exports (id) {
        id -> Text,
        requested_by -> Text,
        requested_role -> Text,
        requested_at -> Timestamp,
        object -> Text,
        format -> Text,
        filter -> Text,
        reason -> Nullable<Text>,
        state -> Text,
        row_count -> Integer,
        seed_count -> Integer,
        over_allowance -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_comment -> Nullable<Text>,
        file_sha256 -> Nullable<Text>,
        file_bytes -> Nullable<BigInt>,
        ready_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        downloads -> Integer,
    }
}

diesel::table! {
    export_files (export_id) {
        export_id -> Text,
        content -> Binary,
    }
}

diesel::table! {
    export_seeds (id) {
        id -> Text,
        export_id -> Text,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    decoys (client_id) {
        client_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    reassignments (id) {
        id -> Text,
        client_id -> Text,
        from_owner -> Nullable<Text>,
        to_owner -> Text,
        by_user -> Text,
        at -> Timestamp,
        reason -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    reassign_requests (id) {
        id -> Text,
        requested_by -> Text,
        requested_at -> Timestamp,
        client_ids -> Text,
        to_owner -> Text,
        reason -> Text,
        state -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_comment -> Nullable<Text>,
    }
}

// WebAuthn security keys (issue 4).

diesel::table! {
    webauthn_credentials (key_id) {
        key_id -> Text,
        credential_id -> Text,
        credential -> Text,
        aaguid -> Text,
        attestation_ca -> Text,
        attestation_ca_sha256 -> Text,
        user_verified -> Bool,
        sign_count -> BigInt,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Text,
        purpose -> Text,
        session_hash -> Text,
        user_id -> Text,
        state -> Text,
        code_hash -> Nullable<Text>,
        label -> Nullable<Text>,
        origin -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webauthn_credentials -> hardware_keys (key_id));
diesel::allow_tables_to_appear_in_same_query!(webauthn_credentials, hardware_keys);

// Service delivery and billing (projects, invoices, credit notes, payments).

diesel::table! {
    projects (id) {
        id -> Text,
        client_id -> Text,
        name -> Text,
        status -> Text,
        starts_on -> Nullable<Date>,
        ends_on -> Nullable<Date>,
        responsible_id -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    invoice_sequences (name) {
        name -> Text,
        last_number -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> Text,
        client_id -> Text,
        kind -> Text,
        credits_id -> Nullable<Text>,
        number -> Nullable<BigInt>,
        state -> Text,
        currency -> Text,
        issued_at -> Nullable<Timestamp>,
        due_on -> Nullable<Date>,
        notes -> Nullable<Text>,
        line_count -> Integer,
        subtotal_e4 -> BigInt,
        tax_e4 -> BigInt,
        total_e4 -> BigInt,
        paid_e4 -> BigInt,
        credited_e4 -> BigInt,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> Text,
        invoice_id -> Text,
        position -> Integer,
        description -> Text,
        quantity_e4 -> BigInt,
        unit_price_e4 -> BigInt,
        tax_rate_e4 -> BigInt,
        net_e4 -> BigInt,
        tax_e4 -> BigInt,
        total_e4 -> BigInt,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        invoice_id -> Text,
        amount_e4 -> BigInt,
        paid_on -> Date,
        method -> Nullable<Text>,
        reference -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    projects,
    invoice_sequences,
    invoices,
    invoice_lines,
    payments,
    clients,
);
diesel::allow_tables_to_appear_in_same_query!(projects, tasks);

// Theft detection: daily counters, viewed clients, restrictions.
diesel::table! {
    usage_counts (user_id, metric, day) {
        user_id -> Text,
        day -> Text,
        metric -> Text,
        n -> BigInt,
        first_seq -> BigInt,
        last_seq -> BigInt,
    }
}

diesel::table! {
    usage_seen (user_id, day, client_id) {
        user_id -> Text,
        day -> Text,
        client_id -> Text,
    }
}

diesel::table! {
    user_restrictions (user_id, kind) {
        user_id -> Text,
        kind -> Text,
        since -> Timestamp,
        alert_id -> Nullable<Text>,
    }
}

diesel::table! {
    departure_book (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        snapshot_at -> Timestamp,
    }
}

// CSV imports: staged uploads, visible to their uploader until they expire.
diesel::table! {
    import_batches (id) {
        id -> Text,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
        expires_at -> Timestamp,
        file_name -> Text,
        file_sha256 -> Text,
        file_bytes -> BigInt,
        encoding -> Text,
        delimiter -> Text,
        headers -> Text,
        staged_rows -> Text,
        row_count -> Integer,
        mapping -> Text,
        policy -> Text,
        decisions -> Text,
        state -> Text,
        committed_at -> Nullable<Timestamp>,
        result -> Nullable<Text>,
    }
}
diesel::joinable!(import_batches -> users (uploaded_by));
diesel::allow_tables_to_appear_in_same_query!(import_batches, users);

// Alert notices: owners' and admins' addresses, the outbox and its deliveries.
diesel::table! {
    user_emails (user_id) {
        user_id -> Text,
        email -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alert_outbox (alert_id) {
        alert_id -> Text,
        queued_at -> Timestamp,
    }
}

diesel::table! {
    alert_deliveries (id) {
        id -> Text,
        alert_id -> Text,
        channel -> Text,
        target -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        gave_up_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(alert_deliveries -> alerts (alert_id));
diesel::allow_tables_to_appear_in_same_query!(alert_deliveries, alerts);
diesel::allow_tables_to_appear_in_same_query!(user_emails, users);
diesel::allow_tables_to_appear_in_same_query!(alert_outbox, alerts);

// Reports: the owner's clients-at-risk flags.
diesel::table! {
    report_settings (id) {
        id -> Text,
        complaints_on -> Bool,
        complaints_min -> Integer,
        complaints_days -> Integer,
        complaint_outcome -> Text,
        no_contact_on -> Bool,
        no_contact_days -> Integer,
        overdue_on -> Bool,
        overdue_days -> Integer,
        updated_at -> Timestamp,
        updated_by -> Nullable<Text>,
    }
}
