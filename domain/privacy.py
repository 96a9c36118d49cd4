"""What of an applicant's personal data each reader sees: the desk sees it whole; everyone
else (the departments, the applicant's own lookups, which a leaked key could open) sees the
ID number, phone and e-mail masked, and no internal notes reach the applicant."""

from domain.dossier import Action, SlipAction

# Control-slip notes officials write to each other, not to the applicant.
INTERNAL_NOTES = frozenset(
    {
        Action.RETURN,
        Action.REASSIGN,
        Action.CONSULT,
        SlipAction.ROUTED,
        SlipAction.CONSULTATION_ANSWERED,
        SlipAction.CONSULTATION_UNANSWERED,
    }
)


def mask(value: str, keep_start: int, keep_end: int) -> str:
    """`value` with all but its first and last few characters hidden."""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]


def mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if domain else mask(address, 1, 0)
