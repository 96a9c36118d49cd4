"""What of an applicant's personal data each reader sees: the desk sees it whole; everyone
else (the departments, the applicant's own lookups, which a leaked key could open) sees the
ID number, phone and e-mail masked, and no internal notes reach the applicant."""

from domain.dossier import Action, SlipAction

# The control-slip notes the applicant sees: the reasons given to them (a refusal, a negative
# decision, what is missing, why the appointment moved) and their own. Every other note is
# officials writing to each other.
NOTES_FOR_THE_APPLICANT = frozenset(
    {
        Action.REFUSE,
        Action.REJECT,
        Action.REQUEST_SUPPLEMENT,
        Action.EXTEND,
        SlipAction.WITHDRAWAL_REQUESTED,
        SlipAction.SUPPLEMENTED,
        SlipAction.SUBMITTED,
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
