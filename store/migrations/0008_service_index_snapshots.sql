-- The service index as it stood at the end of each day (taken by a Temporal Schedule): the
-- month-to-date counts per agency, procedure and department, with their names as the catalog
-- gave them that day, so trends survive a renamed department or a retired procedure.
CREATE TABLE service_index_snapshots (
    day           date NOT NULL,          -- the Vietnam day whose end the figures stand at
    scope         text NOT NULL CHECK (scope IN ('agency', 'procedure', 'department')),
    key           text NOT NULL,          -- the agency's, procedure's or department's code
    name          text NOT NULL,
    period_start  timestamptz NOT NULL,   -- dossiers received from the month's first day
    period_end    timestamptz NOT NULL,   -- to the day's end
    counts        jsonb NOT NULL,         -- store.statistics.IndexCounts
    taken_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key, day)
);
