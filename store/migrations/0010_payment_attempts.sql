-- One row per attempt to pay a dossier's fee at a real gateway (VNPAY). Its reference (TxnRef)
-- is never reused, as the gateway requires, and a payment link expires: each visit to our pay
-- link after the last one lapsed, failed or was paid wrongly opens a new attempt. The
-- dossier's `payments` row stays the fee asked; an attempt is what the gateway did about it.
CREATE TABLE payment_attempts (
    txn_ref          text PRIMARY KEY,
    dossier_code     text NOT NULL REFERENCES payments (dossier_code),
    attempt          integer NOT NULL,
    amount_vnd       integer NOT NULL,
    -- pending, paid, failed, expired; amount_mismatch and refund_due: money taken that is
    -- owed back (a wrong amount, or a fee paid twice or for a dossier no longer waiting).
    status           text NOT NULL,
    -- The signed pay link's own fields, kept so that it is built again the same.
    client_ip        text NOT NULL,
    create_date      text NOT NULL,
    expire_date      text NOT NULL,
    -- Who is told when money needs giving back: the dossier's one-stop desk.
    desk_department  text NOT NULL,
    desk_role        text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz,
    -- What the gateway said: its transaction number, response code and the amount it took.
    transaction_no   text,
    response_code    text,
    paid_amount_vnd  bigint,
    UNIQUE (dossier_code, attempt)
);
-- The reconciliation's question: which attempts are still pending, oldest first.
CREATE INDEX payment_attempts_pending ON payment_attempts (created_at) WHERE status = 'pending';
-- The operators' list of payments needing attention.
CREATE INDEX payment_attempts_attention ON payment_attempts (settled_at)
    WHERE status IN ('amount_mismatch', 'refund_due');
