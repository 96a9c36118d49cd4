-- Failed logins per name and client address: after LOGIN_FAILURES_ALLOWED free ones, each
-- next try waits until `not_before`, a delay that doubles with every failure. The row is
-- updated in one statement that also tells whether the try may go ahead, so parallel guesses
-- cannot share a free try. The right password deletes the row; a quiet day forgets it.
CREATE TABLE login_delays (
    username    text NOT NULL,
    client      text NOT NULL,
    failures    integer NOT NULL,
    not_before  timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    PRIMARY KEY (username, client)
);
CREATE INDEX login_delays_last_at ON login_delays (last_at);

-- Every token carries its official's version; deactivating, moving or re-saving an official
-- (new password, department or role) moves it on, and their older tokens are refused.
ALTER TABLE officials ADD COLUMN token_version integer NOT NULL DEFAULT 0;
