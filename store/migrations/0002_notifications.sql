-- The applicants' notification outbox: one row per status change and channel, written in the
-- same transaction as the read model, so a retried activity never notifies twice. The
-- embedded stack stops here (read it with `motcua outbox`); an e-mail or SMS sender would
-- deliver the rows and set `sent_at`.
CREATE TABLE notifications (
    id            bigserial PRIMARY KEY,
    dossier_code  text NOT NULL REFERENCES dossiers (code),
    seq           integer NOT NULL,
    status_code   smallint NOT NULL,
    channel       text NOT NULL,
    recipient     text NOT NULL,
    message       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    UNIQUE (dossier_code, seq, channel)
);
CREATE INDEX notifications_unsent ON notifications (created_at) WHERE sent_at IS NULL;
