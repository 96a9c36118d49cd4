-- The one-stop rules: supplements (the clock stops), assignees, consultations, officials'
-- alerts, and every form a dossier is issued.

ALTER TABLE dossiers
    ADD COLUMN assignee             text,
    ADD COLUMN supplement_requests  smallint NOT NULL DEFAULT 0,
    -- Working hours the clock stood still while the applicant supplemented (Decision 766).
    ADD COLUMN supplement_hours     double precision NOT NULL DEFAULT 0;

-- A dossier may be issued several documents of a kind (two supplement requests, two
-- apologies): each is keyed by the transition that issued it. The result and the refusal
-- keep seq 0.
ALTER TABLE documents ADD COLUMN seq integer NOT NULL DEFAULT 0;
-- What a document says is fixed when it is issued (its context); the PDF is rendered from it
-- when first read, then kept with its SHA-256.
ALTER TABLE documents
    ADD COLUMN context jsonb,
    ALTER COLUMN content DROP NOT NULL,
    ALTER COLUMN sha256 DROP NOT NULL;
ALTER TABLE documents DROP CONSTRAINT documents_dossier_code_kind_key;
ALTER TABLE documents ADD CONSTRAINT documents_once UNIQUE (dossier_code, kind, seq);

-- Departments asked for their opinion by a review step (liên thông), one row per department
-- and round; written by the consultation's child workflow.
CREATE TABLE consultations (
    id            text PRIMARY KEY,  -- the child workflow's id
    dossier_code  text NOT NULL REFERENCES dossiers (code),
    step_key      text NOT NULL,
    department    text NOT NULL,
    role          text NOT NULL,
    question      text,
    asked_at      timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    status        text NOT NULL,  -- open, answered, unanswered, cancelled
    answered_by   text,
    opinion       text,
    closed_at     timestamptz
);
CREATE INDEX consultations_open ON consultations (department, role, due_at) WHERE status = 'open';

-- What officials are told: a step at three quarters of its time (reminder), a step past its due time
-- (to the department's head), an appointment that cannot be met (to the desk), a handover.
CREATE TABLE official_alerts (
    id            bigserial PRIMARY KEY,
    dossier_code  text NOT NULL REFERENCES dossiers (code),
    seq           integer NOT NULL,
    kind          text NOT NULL,
    department    text NOT NULL,
    role          text NOT NULL,
    assignee      text,
    message       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dossier_code, seq, kind)
);
CREATE INDEX official_alerts_inbox ON official_alerts (department, role, created_at);

-- Delivery of the applicants' notifications: failed attempts are counted, retried later and
-- later, and the last error kept for an operator to see.
ALTER TABLE notifications
    ADD COLUMN attempts    smallint NOT NULL DEFAULT 0,
    ADD COLUMN retry_at    timestamptz,
    ADD COLUMN last_error  text;
