"""The data-in-transit decision table (nbcli/net/dte.py), cell by cell, as NetBackup's guide
gives it for a backup and for a restore of an image backed up encrypted."""

from __future__ import annotations

import pytest

from nbcli.net import dte
from nbcli.status import NbuError

BACKUP = {  # (global, client): encrypted, or None where the job fails
    ("PREFERRED_OFF", "ON"): True, ("PREFERRED_OFF", "AUTOMATIC"): False,
    ("PREFERRED_OFF", "OFF"): False,
    ("PREFERRED_ON", "ON"): True, ("PREFERRED_ON", "AUTOMATIC"): True,
    ("PREFERRED_ON", "OFF"): False,
    ("ENFORCED", "ON"): True, ("ENFORCED", "AUTOMATIC"): True, ("ENFORCED", "OFF"): None,
}


@pytest.mark.parametrize(("modes", "want"), list(BACKUP.items()))
def test_backup_table(modes: tuple[str, str], want: bool | None) -> None:
    if want is None:
        with pytest.raises(NbuError) as e:
            dte.decide(*modes)
        assert e.value.status == 26 and "ENFORCED" in e.value.detail
    else:
        assert dte.decide(*modes) is want


def test_an_image_backed_up_encrypted_is_restored_encrypted() -> None:
    assert dte.decide("PREFERRED_OFF", "AUTOMATIC", image_on=True) is True
    with pytest.raises(NbuError):
        dte.decide("PREFERRED_OFF", "OFF", image_on=True)


def test_defaults_and_spellings() -> None:
    assert dte.decide("", "") is True  # PREFERRED_ON and AUTOMATIC: a fresh installation
    assert dte.decide("preferredOff", "automatic") is False
    assert dte.decide("Preferred On", "on") is True
    with pytest.raises(NbuError) as e:
        dte.decide("sometimes", "on")
    assert e.value.status == 20


def test_nbseccmd_numbers() -> None:
    """nbseccmd -dteglobalmode 0|1|2 are Preferred Off, Preferred On, Enforced."""
    assert [dte.global_from_number(n) for n in "012"] == list(dte.GLOBAL_MODES)
    for bad in ("3", "-1", "on", ""):
        with pytest.raises(NbuError) as e:
            dte.global_from_number(bad)
        assert e.value.status == 20
