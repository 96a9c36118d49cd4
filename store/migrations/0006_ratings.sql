-- The applicant's rating once the result is returned (Decision 766, 5.4 satisfaction): one per
-- dossier, changed by a later rating.
CREATE TABLE ratings (
    dossier_code  text PRIMARY KEY REFERENCES dossiers (code),
    satisfaction  text NOT NULL CHECK (satisfaction IN ('satisfied', 'neutral', 'dissatisfied')),
    comment       text,
    rated_at      timestamptz NOT NULL DEFAULT now()
);
-- Operators' searches of running dossiers by due time, and the service index by period.
CREATE INDEX dossiers_running_due ON dossiers (due_at) WHERE finished_at IS NULL;
CREATE INDEX dossiers_received_at ON dossiers (received_at);
