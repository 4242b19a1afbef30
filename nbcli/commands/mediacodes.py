"""The code tables of NetBackup's media commands: media types, densities, robot types, states.

nbemm keeps a medium's type as text ("hcart", "HCART2", "hc_cln"); vmquery prints it upper case
(HCART2) and long ("1/2" cartridge tape 2 (14)"), bpmedialist prints the density (hcart2) and
its number. Codes from NetBackup's tables (reference next-areas.md §1.5, NBU::Media).

Place: pure tables and small lookups for vmqueryfmt, mediafmt and the media commands; imports
nothing of nbcli.
"""

from __future__ import annotations

from typing import Any

# Media type -> (code, vmquery's long text). Cleaning tapes end in _CLN.
MEDIA_TYPES: dict[str, tuple[int, str]] = {
    "DEFAULT": (0, "DEFAULT"),
    "4MM": (9, "4MM cartridge tape"),
    "4MM_CLN": (10, "4MM cleaning tape"),
    "8MM": (4, "8MM cartridge tape"),
    "8MM_CLN": (5, "8MM cleaning tape"),
    "DLT": (11, "DLT cartridge tape"),
    "DLT_CLN": (12, "DLT cleaning tape"),
    "DLT2": (16, "DLT cartridge tape 2"),
    "DLT2_CLN": (17, "DLT cleaning tape 2"),
    "DLT3": (26, "DLT cartridge tape 3"),
    "DLT3_CLN": (27, "DLT cleaning tape 3"),
    "DTF": (22, "DTF cartridge tape"),
    "DTF_CLN": (23, "DTF cleaning tape"),
    "HCART": (6, '1/2" cartridge tape'),
    "HC_CLN": (13, '1/2" cleaning tape'),
    "HCART2": (14, '1/2" cartridge tape 2'),
    "HC2_CLN": (15, '1/2" cleaning tape 2'),
    "HCART3": (24, '1/2" cartridge tape 3'),
    "HC3_CLN": (25, '1/2" cleaning tape 3'),
    "QCART": (8, 'QIC - 1/4" cartridge tape'),
}

# Density (bpmedialist, bplabel -d, FRAG lines) -> code.
DENSITIES: dict[str, int] = {
    "qscsi": 0, "hcart": 6, "odiskwm": 9, "odiskwo": 10, "4mm": 12, "dlt": 13, "hcart2": 14,
    "dlt2": 15, "8mm": 16, "dtf": 19, "hcart3": 20, "dlt3": 21,
}

# The density a data tape of each media type is written at (cleaning tapes have their data
# type's density: an hc_cln cleans hcart drives).
_DENSITY_OF = {"HCART": "hcart", "HCART2": "hcart2", "HCART3": "hcart3", "DLT": "dlt",
               "DLT2": "dlt2", "DLT3": "dlt3", "4MM": "4mm", "8MM": "8mm", "DTF": "dtf",
               "QCART": "qscsi", "HC_CLN": "hcart", "HC2_CLN": "hcart2", "HC3_CLN": "hcart3",
               "DLT_CLN": "dlt", "DLT2_CLN": "dlt2", "DLT3_CLN": "dlt3", "4MM_CLN": "4mm",
               "8MM_CLN": "8mm", "DTF_CLN": "dtf"}

# Robot type -> (code, vmquery's long text).
ROBOT_TYPES: dict[str, tuple[int, str]] = {
    "NONE": (0, "Not Robotic"),
    "ACS": (1, "Automated Cartridge System"),
    "TL8": (6, "Tape Library 8MM"),
    "TL4": (7, "Tape Library 4MM"),
    "TLD": (8, "Tape Library DLT"),
    "TLH": (12, "Tape Library Half-inch"),
    "TLM": (13, "Tape Library Multimedia"),
}

# Media state bits (bpmedialist -l field 15, -L `status = 0x..`), next-areas.md §1.3.
FROZEN, SUSPENDED, FULL, IMPORTED = 0x1, 0x2, 0x8, 0x80
# The words bpmedialist and available_media print, in the order a medium's word is chosen.
STATE_WORDS = ((FROZEN, "FROZEN"), (SUSPENDED, "SUSPENDED"), (FULL, "FULL"),
               (IMPORTED, "IMPORTED"))


def media_type(record: dict[str, Any]) -> str:
    """The record's media type as vmquery prints it: HCART, HC_CLN, ..."""
    return str(record.get("type") or "DEFAULT").upper()


def is_cleaning(record: dict[str, Any]) -> bool:
    return media_type(record).endswith("_CLN")


def density(record: dict[str, Any]) -> str:
    """The density a medium is written at: hcart for HCART, ..."""
    mt = media_type(record)
    return _DENSITY_OF.get(mt, mt.lower())


def density_code(name: str) -> int:
    return DENSITIES.get(name.lower(), 0)


def type_text(record: dict[str, Any]) -> str:
    """`1/2" cartridge tape 2 (14)`, vmquery -m's media type line."""
    mt = media_type(record)
    code, text = MEDIA_TYPES.get(mt, (0, mt))
    return f"{text} ({code})"


def robot_type(record: dict[str, Any]) -> str:
    """TLD, ACS, ... or NONE for a medium outside any robot."""
    rt = str(record.get("rt") or "").upper()
    return rt if rt and rt != "NONE" and in_robot(record) else "NONE"


def in_robot(record: dict[str, Any]) -> bool:
    rn = record.get("rn")
    return isinstance(rn, int) and rn >= 0 and bool(record.get("rt"))


def robot_text(record: dict[str, Any]) -> str:
    """`TLD - Tape Library DLT (8)`, vmquery -m's robot type line."""
    rt = robot_type(record)
    code, text = ROBOT_TYPES.get(rt, (0, rt))
    return f"{rt} - {text} ({code})"


def state_words(state: int) -> list[str]:
    """The words of every state bit set, FROZEN first."""
    return [word for bit, word in STATE_WORDS if state & bit]


def status_word(record: dict[str, Any]) -> str:
    """available_media's status: FROZEN, SUSPENDED, FULL, IMPORTED, else ACTIVE when the
    medium is assigned and AVAILABLE when it is not."""
    words = state_words(int(record.get("state") or 0))
    if words:
        return words[0]
    return "ACTIVE" if record.get("assigned") else "AVAILABLE"


def volume_group(record: dict[str, Any]) -> str:
    """The volume group NetBackup names a robot's media by (`000_00000_TLD`), `---` outside
    a robot. nbcli keeps no groups of its own: the robot defines it."""
    if not in_robot(record):
        return "---"
    return f"{int(record['rn']):03d}_00000_{robot_type(record)}"
