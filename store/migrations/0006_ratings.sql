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
-- The index by department: the dossiers one of whose steps a department held.
CREATE INDEX slip_entries_department ON slip_entries (department, dossier_code);

-- When the result was issued (status 9): with finished_at, the end of processing the service
-- index judges timeliness by. Earlier dossiers take it from their control slip.
ALTER TABLE dossiers ADD COLUMN processed_at timestamptz;
UPDATE dossiers SET processed_at = issued.at
FROM (SELECT dossier_code, min(at) AS at FROM slip_entries
      WHERE action = 'result_issued' GROUP BY dossier_code) AS issued
WHERE issued.dossier_code = dossiers.code;
