"""Dossier codes in the national format of Circular 01/2018/TT-VPCP:
`<agency code>-<YYMMDD>-<NNNN>`, e.g. `000.00.15.H39-261128-0001`."""

import re
from datetime import date

# The agency's electronic identifier: V1V2V3.Z1Z2.Y1Y2.MX1X2
AGENCY_CODE_PATTERN = r"[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9A-Z]{2}"
DOSSIER_CODE_RE = re.compile(
    rf"^(?P<agency>{AGENCY_CODE_PATTERN})-(?P<day>\d{{6}})-(?P<seq>\d{{4,}})$"
)


def format_dossier_code(agency_code: str, day: date, sequence: int) -> str:
    if sequence < 1:
        raise ValueError("the day's sequence starts at 1")
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


def is_dossier_code(value: str) -> bool:
    return DOSSIER_CODE_RE.fullmatch(value) is not None
