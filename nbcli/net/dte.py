"""Data-in-transit encryption (DTE): whether a job's image stream between hosts is encrypted.

NetBackup's rules (Security and Encryption Guide, "Configuring data-in-transit encryption (DTE)"
> "How DTE configuration settings work in various NetBackup operations"): the master's global
mode, the client's own mode and the media server's own mode decide for a backup ("Backup",
https://docs.cohesity.com/docs/netbackup/10.1.1/21733320-158332701-0/v152910022-158332701):

    media server On (the default)            media server Off
    global \\ client  ON    AUTOMATIC  OFF    ON    AUTOMATIC  OFF
    PREFERRED_OFF    enc   clear      clear  fail  clear      clear
    PREFERRED_ON     enc   enc        clear  fail  clear      clear
    ENFORCED         enc   enc        fail   fail  fail       fail

A restore ("Restore", .../v152910057-158332701) of an image whose DTE mode is Off decides by
the same two tables. One whose mode is On (it was backed up encrypted) is encrypted whatever
the modes say, and fails where a host will not encrypt: a media server Off, or a client whose
own mode is OFF - unless the master's DTE_IGNORE_IMAGE_MODE ("DTE_IGNORE_IMAGE_MODE for
NetBackup servers"; the duplication and verify pages give its columns, .../v152910245-... and
.../v152910363-...) is ALWAYS: the restore then decides as if the image's mode were Off.
WHERE_UNSUPPORTED ignores the image's mode only for hosts older than 9.1, which cannot encrypt.

A host that cannot encrypt. NetBackup's tables give a column to hosts before 9.1: for them
PREFERRED_OFF and PREFERRED_ON go in the clear, ENFORCED fails, and an image whose mode is On
fails under NEVER and goes in the clear under WHERE_UNSUPPORTED. An nbcli host cannot encrypt
its image stream while it holds no host certificate (the job's secret then reached it in the
clear, nbcli.net.sealed): `required` says when such a host must fail the job (26) rather than
send the image in the clear - ENFORCED, the image's mode under NEVER, and a client whose own
mode is ON (its administrator asked for encryption; nbcli's rule, there is no 9.1 client ON).

Read from the pages: the media-Off table's ENFORCED and PREFERRED_ON rows for a restore, and
the image-On rows for a client, are cut off in the copies we could read; they are taken from the
backup page (the PREFERRED_OFF row, the one we read, is the same) and from the guide's "Modify
the DTE mode on a backup image" ("if the image DTE mode is set to On, subsequent operations
always encrypt the data ... If the host does not support DTE, then the job fails").

The modes: the master's bp.toml `DTE_GLOBAL_MODE` (default PREFERRED_ON, as a fresh NetBackup
installation) and `DTE_IGNORE_IMAGE_MODE` (default NEVER), the client's `DTE_CLIENT_MODE`
(default AUTOMATIC), the media server's `MEDIA_DTE_MODE` (ON by default, or OFF; nbcli's name,
see man/nbseccmd.8). The client's agent (bpbkar, tar-restore) decides, since it opens the data
connection and alone knows its own mode; bpbrm hands it the others. The control connections
between hosts are TLS whatever the modes say (client.connect); only the image stream may travel
in the clear, and then only to the job's own data service, which checks the job's secret.

Pure: imports status only.
"""

from __future__ import annotations

from nbcli.status import HANDSHAKE_FAILED, INVALID_PARAMETER, NbuError

GLOBAL_MODES = ("PREFERRED_OFF", "PREFERRED_ON", "ENFORCED")  # nbseccmd's 0, 1, 2
CLIENT_MODES = ("AUTOMATIC", "ON", "OFF")
MEDIA_MODES = ("ON", "OFF")
IGNORE_IMAGE_MODES = ("NEVER", "WHERE_UNSUPPORTED", "ALWAYS")
DEFAULT_GLOBAL = "PREFERRED_ON"
DEFAULT_CLIENT = "AUTOMATIC"
DEFAULT_MEDIA = "ON"
DEFAULT_IGNORE_IMAGE = "NEVER"

# (global, client) -> encrypted, or None where the job fails: the guide's two tables.
MEDIA_ON: dict[tuple[str, str], bool | None] = {
    ("PREFERRED_OFF", "ON"): True, ("PREFERRED_OFF", "AUTOMATIC"): False,
    ("PREFERRED_OFF", "OFF"): False,
    ("PREFERRED_ON", "ON"): True, ("PREFERRED_ON", "AUTOMATIC"): True,
    ("PREFERRED_ON", "OFF"): False,
    ("ENFORCED", "ON"): True, ("ENFORCED", "AUTOMATIC"): True, ("ENFORCED", "OFF"): None,
}
MEDIA_OFF: dict[tuple[str, str], bool | None] = {
    ("PREFERRED_OFF", "ON"): None, ("PREFERRED_OFF", "AUTOMATIC"): False,
    ("PREFERRED_OFF", "OFF"): False,
    ("PREFERRED_ON", "ON"): None, ("PREFERRED_ON", "AUTOMATIC"): False,
    ("PREFERRED_ON", "OFF"): False,
    ("ENFORCED", "ON"): None, ("ENFORCED", "AUTOMATIC"): None, ("ENFORCED", "OFF"): None,
}

_MEDIA_OFF = "data-in-transit encryption is off on the media server (MEDIA_DTE_MODE = OFF)"
_CLIENT_OFF = "data-in-transit encryption is off on this client (DTE_CLIENT_MODE = OFF)"


def normal(mode: str, allowed: tuple[str, ...]) -> str:
    """`mode` spelled as in the tables (preferredOn, Preferred On, preferred_on all do); 20 for
    one that is none of `allowed`."""
    word = mode.strip().upper().replace(" ", "_").replace("-", "_")
    if word in ("PREFERREDON", "PREFERREDOFF"):
        word = word.replace("PREFERRED", "PREFERRED_")
    if word == "WHEREUNSUPPORTED":
        word = "WHERE_UNSUPPORTED"
    if word not in allowed:
        raise NbuError(INVALID_PARAMETER, f"invalid DTE mode {mode!r}: one of "
                                          f"{', '.join(allowed)}")
    return word


def global_from_number(number: str) -> str:
    """nbseccmd's `-dteglobalmode 0|1|2` -> the mode's name; 20 for anything else."""
    if number.strip() not in ("0", "1", "2"):
        raise NbuError(INVALID_PARAMETER, f"invalid -dteglobalmode {number!r}: 0 (preferred off), "
                                          f"1 (preferred on) or 2 (enforced)")
    return GLOBAL_MODES[int(number)]


def decide(global_mode: str, client_mode: str, media_mode: str = "", image_on: bool = False,
           ignore_image: str = "") -> bool:
    """Whether the stream is encrypted; NbuError(26) when the modes forbid the job. Empty
    modes are their defaults; `image_on` and `ignore_image` are a restore's."""
    g = normal(global_mode or DEFAULT_GLOBAL, GLOBAL_MODES)
    c = normal(client_mode or DEFAULT_CLIENT, CLIENT_MODES)
    m = normal(media_mode or DEFAULT_MEDIA, MEDIA_MODES)
    i = normal(ignore_image or DEFAULT_IGNORE_IMAGE, IGNORE_IMAGE_MODES)
    if image_on and i != "ALWAYS":
        if m == "OFF" or c == "OFF":
            raise NbuError(HANDSHAKE_FAILED, f"{_MEDIA_OFF if m == 'OFF' else _CLIENT_OFF} but "
                           f"the image was backed up with data-in-transit encryption (its DTE "
                           f"mode is On; DTE_IGNORE_IMAGE_MODE = {i} on the master)")
        return True
    outcome = (MEDIA_ON if m == "ON" else MEDIA_OFF)[(g, c)]
    if outcome is None:
        raise NbuError(HANDSHAKE_FAILED, _refusal(g, c, m))
    return outcome


def required(global_mode: str, client_mode: str, image_on: bool = False,
             ignore_image: str = "") -> bool:
    """Whether a job that `decide` encrypts must fail where its stream cannot be encrypted
    (a host with no host certificate), rather than go in the clear."""
    g = normal(global_mode or DEFAULT_GLOBAL, GLOBAL_MODES)
    c = normal(client_mode or DEFAULT_CLIENT, CLIENT_MODES)
    i = normal(ignore_image or DEFAULT_IGNORE_IMAGE, IGNORE_IMAGE_MODES)
    return g == "ENFORCED" or c == "ON" or (image_on and i == "NEVER")


def _refusal(g: str, c: str, m: str) -> str:
    if m == "OFF" and c == "ON":
        return f"{_MEDIA_OFF} but this client's DTE_CLIENT_MODE is ON"
    off = _MEDIA_OFF if m == "OFF" else _CLIENT_OFF
    return f"{off} but the global DTE mode is {g}"


def described(encrypt: bool) -> str:
    """What the job's details say of the image stream between hosts."""
    return ("; data-in-transit encryption on (AES-256-GCM)" if encrypt
            else "; data-in-transit encryption off (the image crosses in the clear)")


def job_mode(encrypt: bool) -> str:
    """The job's DTE mode as its record keeps it (REST `dteMode`): On or Off."""
    return "On" if encrypt else "Off"
