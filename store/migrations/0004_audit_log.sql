-- The audit trail: every action on a dossier and every official's read of personal data. Each
-- row carries sha256(previous row's hash ‖ this row), so an altered or removed row breaks the
-- chain (`motcua audit verify` names the first broken row); the table itself refuses UPDATE,
-- DELETE and TRUNCATE.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         text NOT NULL,   -- an official's username, "applicant", or "gateway"
    role          text NOT NULL,
    action        text NOT NULL,
    dossier_code  text,
    client        text,            -- where the request came from
    detail        jsonb NOT NULL,
    row_hash      text NOT NULL UNIQUE
);
CREATE INDEX audit_log_dossier ON audit_log (dossier_code, id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
