"""Every row of NetBackup's DTE tables (nbcli/net/dte.py's docstring cites the pages): a
backup and a restore by global x client x media server mode, and a restore of an image whose
own mode is On by DTE_IGNORE_IMAGE_MODE. Written out cell by cell from the guide, not derived
from dte.py's own tables, so that a wrong cell there fails here."""

from __future__ import annotations

import itertools

import pytest

from nbcli.net import dte
from nbcli.status import NbuError

ENC: bool | None = True
CLEAR: bool | None = False
FAIL: bool | None = None
Row = tuple[bool | None, bool | None, bool | None]
CLIENTS = ("ON", "OFF", "AUTOMATIC")  # the guide's column order

# "Backup": media server On (default) / Off; rows global, columns client On, Off, Automatic.
MEDIA_ON: dict[str, Row] = {"PREFERRED_OFF": (ENC, CLEAR, CLEAR),
            "PREFERRED_ON": (ENC, CLEAR, ENC),
            "ENFORCED": (ENC, FAIL, ENC)}
MEDIA_OFF: dict[str, Row] = {"PREFERRED_OFF": (FAIL, CLEAR, CLEAR),
             "PREFERRED_ON": (FAIL, CLEAR, CLEAR),
             "ENFORCED": (FAIL, FAIL, FAIL)}
# "Restore", image DTE mode On, DTE_IGNORE_IMAGE_MODE NEVER / WHERE_UNSUPPORTED / ALWAYS, for
# each media server mode and client mode (ALWAYS: as the image-Off tables above).
IMAGE_ON_MEDIA_ON: dict[str, Row] = {"NEVER": (ENC, FAIL, ENC),
                                     "WHERE_UNSUPPORTED": (ENC, FAIL, ENC)}
IMAGE_ON_MEDIA_OFF: dict[str, Row] = {"NEVER": (FAIL, FAIL, FAIL),
                                      "WHERE_UNSUPPORTED": (FAIL, FAIL, FAIL)}


def cells(table: dict[str, Row]) -> list[tuple[str, str, bool | None]]:
    return [(row, client, want) for row, wants in table.items()
            for client, want in zip(CLIENTS, wants, strict=True)]


def outcome(**modes: object) -> bool | None:
    try:
        return dte.decide(**modes)  # type: ignore[arg-type]
    except NbuError as e:
        assert e.status == 26, e
        return None


@pytest.mark.parametrize(("g", "c", "want"), cells(MEDIA_ON))
def test_backup_media_server_on(g: str, c: str, want: bool | None) -> None:
    assert outcome(global_mode=g, client_mode=c, media_mode="ON") is want
    assert outcome(global_mode=g, client_mode=c) is want  # On is the media server's default


@pytest.mark.parametrize(("g", "c", "want"), cells(MEDIA_OFF))
def test_backup_media_server_off(g: str, c: str, want: bool | None) -> None:
    assert outcome(global_mode=g, client_mode=c, media_mode="OFF") is want


@pytest.mark.parametrize(("g", "c", "m", "ignore"), list(itertools.product(
    dte.GLOBAL_MODES, CLIENTS, dte.MEDIA_MODES, dte.IGNORE_IMAGE_MODES)))
def test_restore_of_an_image_whose_mode_is_off(g: str, c: str, m: str, ignore: str) -> None:
    """The backup's tables, whatever DTE_IGNORE_IMAGE_MODE says."""
    want = dict(zip(CLIENTS, (MEDIA_ON if m == "ON" else MEDIA_OFF)[g], strict=True))[c]
    assert outcome(global_mode=g, client_mode=c, media_mode=m, image_on=False,
                   ignore_image=ignore) is want


@pytest.mark.parametrize(("g", "m", "ignore"), list(itertools.product(
    dte.GLOBAL_MODES, dte.MEDIA_MODES, ("NEVER", "WHERE_UNSUPPORTED"))))
def test_restore_of_an_image_whose_mode_is_on(g: str, m: str, ignore: str) -> None:
    """Encrypted whatever the global mode; fails where the media server or the client is Off.
    nbcli's hosts all support DTE, so WHERE_UNSUPPORTED acts as NEVER."""
    table = IMAGE_ON_MEDIA_ON if m == "ON" else IMAGE_ON_MEDIA_OFF
    for c, want in zip(CLIENTS, table[ignore], strict=True):
        assert outcome(global_mode=g, client_mode=c, media_mode=m, image_on=True,
                       ignore_image=ignore) is want, (g, c, m, ignore)


@pytest.mark.parametrize(("g", "c", "m"), list(itertools.product(
    dte.GLOBAL_MODES, CLIENTS, dte.MEDIA_MODES)))
def test_ignore_image_mode_always_decides_as_if_the_image_were_off(g: str, c: str,
                                                                   m: str) -> None:
    want = dict(zip(CLIENTS, (MEDIA_ON if m == "ON" else MEDIA_OFF)[g], strict=True))[c]
    assert outcome(global_mode=g, client_mode=c, media_mode=m, image_on=True,
                   ignore_image="ALWAYS") is want


def test_the_refusals_say_which_host_and_mode() -> None:
    def detail(**modes: object) -> str:
        with pytest.raises(NbuError) as e:
            dte.decide(**modes)  # type: ignore[arg-type]
        return e.value.detail

    assert "MEDIA_DTE_MODE = OFF" in detail(global_mode="ENFORCED", client_mode="AUTOMATIC",
                                            media_mode="OFF")
    assert "ENFORCED" in detail(global_mode="ENFORCED", client_mode="AUTOMATIC",
                                media_mode="OFF")
    assert "DTE_CLIENT_MODE is ON" in detail(global_mode="PREFERRED_OFF", client_mode="ON",
                                             media_mode="OFF")
    image = detail(global_mode="PREFERRED_ON", client_mode="OFF", image_on=True)
    assert "DTE_CLIENT_MODE = OFF" in image and "DTE_IGNORE_IMAGE_MODE = NEVER" in image


def test_bad_modes_are_20() -> None:
    for modes in ({"media_mode": "AUTOMATIC"}, {"ignore_image": "SOMETIMES"},
                  {"media_mode": "maybe"}):
        with pytest.raises(NbuError) as e:
            dte.decide("PREFERRED_ON", "AUTOMATIC", **modes)  # type: ignore[arg-type]
        assert e.value.status == 20
    assert dte.decide("preferredOn", "automatic", "on", True, "where_unsupported") is True
    assert dte.decide("Preferred On", "Off", "off", True, "always") is False


def test_job_mode() -> None:
    assert (dte.job_mode(True), dte.job_mode(False)) == ("On", "Off")


# A host that cannot encrypt (NetBackup's "host earlier than 9.1" column; in nbcli a host with
# no host certificate): where the job is encrypted, whether it must fail (True) rather than go
# in the clear (False). Backup, by global mode and client mode (On, Off, Automatic):
CANNOT_BACKUP: dict[str, Row] = {"PREFERRED_OFF": (True, False, False),
                                  "PREFERRED_ON": (True, False, False),
                                  "ENFORCED": (True, True, True)}
# Restore of an image whose mode is On, client AUTOMATIC, by DTE_IGNORE_IMAGE_MODE:
CANNOT_IMAGE_ON = {"NEVER": True, "WHERE_UNSUPPORTED": False, "ALWAYS": False}


@pytest.mark.parametrize("g,c,want", cells(CANNOT_BACKUP))
def test_a_host_that_cannot_encrypt_fails_where_the_modes_forbid_the_clear(
        g: str, c: str, want: bool | None) -> None:
    assert dte.required(g, c) is want


@pytest.mark.parametrize("ignore,want", CANNOT_IMAGE_ON.items())
def test_an_image_on_from_a_host_that_cannot_encrypt(ignore: str, want: bool) -> None:
    assert dte.required("PREFERRED_OFF", "AUTOMATIC", True, ignore) is want
