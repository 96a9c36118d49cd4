-- Refusals of the unidentified (an applicant's request refused or throttled, a callback that
-- is not the gateway's), counted per client, kind and hour instead of one chained audit_log
-- row each: whoever keeps trying grows this by one row an hour, not by a row a try, and takes
-- no turn at the chain's append lock. A count only grows; rows are never removed.
CREATE TABLE audit_refusals (
    client    text NOT NULL,         -- where the attempts came from
    kind      text NOT NULL,         -- the action and the status it got, e.g. "supplement:404"
    hour      timestamptz NOT NULL,
    count     integer NOT NULL,
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL,
    example   jsonb NOT NULL,        -- the hour's first attempt: actor, dossier, detail
    PRIMARY KEY (client, kind, hour)
);

CREATE FUNCTION audit_refusals_only_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.count >= OLD.count AND NEW.last_at >= OLD.last_at
        AND (NEW.client, NEW.kind, NEW.hour, NEW.first_at, NEW.example)
            IS NOT DISTINCT FROM (OLD.client, OLD.kind, OLD.hour, OLD.first_at, OLD.example)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_refusals only counts: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_refusals_only_count BEFORE UPDATE OR DELETE ON audit_refusals
    FOR EACH ROW EXECUTE FUNCTION audit_refusals_only_count();
CREATE TRIGGER audit_refusals_no_truncate BEFORE TRUNCATE ON audit_refusals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refusals_only_count();
