-- Failed logins and failed dossier lookups, counted per key (a username, a client address)
-- and minute, so guessing passwords or enumerating dossier codes is throttled across every
-- API process.
CREATE TABLE failed_attempts (
    key     text NOT NULL,
    minute  timestamptz NOT NULL,
    count   integer NOT NULL,
    PRIMARY KEY (key, minute)
);
