-- The read model and the records behind the API. Workflows stay the source of truth for
-- where a dossier is; these tables serve lists, inboxes, statistics and snapshots.

CREATE TABLE catalog_versions (
    version     text PRIMARY KEY,
    content     jsonb NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE officials (
    username       text PRIMARY KEY,
    password_hash  text NOT NULL,
    department     text NOT NULL,
    role           text NOT NULL,
    full_name      text,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE files (
    id            uuid PRIMARY KEY,
    sha256        text NOT NULL,
    size          bigint NOT NULL,
    content_type  text NOT NULL,
    storage_name  text NOT NULL UNIQUE,
    original_name text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Per agency and day, the last dossier sequence number handed out. Incremented in the same
-- transaction that inserts the dossier, so a failed submission leaves no gap.
CREATE TABLE dossier_sequences (
    agency_code  text NOT NULL,
    day          date NOT NULL,
    last_seq     integer NOT NULL,
    PRIMARY KEY (agency_code, day)
);

CREATE TABLE dossiers (
    code               text PRIMARY KEY,
    agency_code        text NOT NULL,
    procedure_code     text NOT NULL,
    catalog_version    text NOT NULL REFERENCES catalog_versions (version),
    channel            text NOT NULL,
    applicant_kind     text NOT NULL,
    applicant          jsonb NOT NULL,
    form               jsonb NOT NULL,
    documents          jsonb NOT NULL,
    delivery           jsonb NOT NULL,
    fee_vnd            integer NOT NULL,
    lookup_salt        text NOT NULL,
    idempotency_key    text UNIQUE,
    request_hash       text NOT NULL,
    received_at        timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    -- Kept up to date by the workflow's activities; `last_seq` orders the updates so a
    -- retried or late activity never moves a dossier backwards.
    status_code        smallint NOT NULL DEFAULT 1,
    stage              text NOT NULL DEFAULT 'intake',
    outcome            text NOT NULL DEFAULT 'pending',
    step_key           text,
    step_name          text,
    department         text,
    role               text,
    step_started_at    timestamptz,
    step_due_at        timestamptz,
    finished_at        timestamptz,
    last_seq           integer NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossiers_inbox ON dossiers (department, role, step_due_at) WHERE finished_at IS NULL;
CREATE INDEX dossiers_received ON dossiers (agency_code, received_at);

-- The processing control slip (form 05/06), one row per step start, handover and action.
CREATE TABLE slip_entries (
    dossier_code  text NOT NULL REFERENCES dossiers (code),
    seq           integer NOT NULL,
    step_key      text NOT NULL,
    department    text NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL,
    at            timestamptz NOT NULL,
    note          text,
    timeliness    text,
    PRIMARY KEY (dossier_code, seq)
);

-- Our side of a payment: one per dossier.
CREATE TABLE payments (
    dossier_code  text PRIMARY KEY REFERENCES dossiers (code),
    payment_id    text NOT NULL UNIQUE,
    amount_vnd    integer NOT NULL,
    status        text NOT NULL,
    pay_url       text,
    via           text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    paid_at       timestamptz
);

-- Gateway callbacks already applied, so a replayed callback changes nothing.
CREATE TABLE payment_events (
    event_id     text PRIMARY KEY,
    payment_id   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- The sandbox gateway's own book (stands in for the external gateway in the embedded stack).
CREATE TABLE sandbox_gateway_payments (
    payment_id       text PRIMARY KEY,
    merchant_ref     text NOT NULL UNIQUE,
    amount_vnd       integer NOT NULL,
    status           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    paid_at          timestamptz
);

-- Issued documents (the result or the written refusal). Stored once per dossier and kind.
CREATE TABLE documents (
    id            uuid PRIMARY KEY,
    dossier_code  text NOT NULL REFERENCES dossiers (code),
    kind          text NOT NULL,
    name          text NOT NULL,
    content_type  text NOT NULL,
    sha256        text NOT NULL,
    content       bytea NOT NULL,
    issued_at     timestamptz NOT NULL,
    UNIQUE (dossier_code, kind)
);
