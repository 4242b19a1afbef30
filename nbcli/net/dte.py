"""Data-in-transit encryption (DTE): whether a job's image stream between hosts travels in TLS.

NetBackup's rules (Security and Encryption Guide, "How DTE configuration settings work"): the
master's global mode and the client's own mode decide for a backup; a restore also honours the
image's DTE mode (an image backed up encrypted is restored encrypted):

    global \\ client    ON          AUTOMATIC    OFF
    PREFERRED_OFF      encrypted   clear        clear
    PREFERRED_ON       encrypted   encrypted    clear
    ENFORCED           encrypted   encrypted    the job fails

The global mode is the master's bp.toml `DTE_GLOBAL_MODE` (default PREFERRED_ON, as a fresh
NetBackup installation), the client's its own bp.toml `DTE_CLIENT_MODE` (default AUTOMATIC);
the client's agent (bpbkar, tar-restore) decides, since it opens the data connection. The
control connections between hosts are TLS whatever the modes say (client.connect); only the
image stream may travel in the clear, and then only to the job's own data service, which
checks the job's secret.

Pure: imports status only.
"""

from __future__ import annotations

from nbcli.status import HANDSHAKE_FAILED, INVALID_PARAMETER, NbuError

GLOBAL_MODES = ("PREFERRED_OFF", "PREFERRED_ON", "ENFORCED")  # nbseccmd's 0, 1, 2
CLIENT_MODES = ("AUTOMATIC", "ON", "OFF")
DEFAULT_GLOBAL = "PREFERRED_ON"
DEFAULT_CLIENT = "AUTOMATIC"


def normal(mode: str, allowed: tuple[str, ...]) -> str:
    """`mode` spelled as in the tables (preferredOn, Preferred On, preferred_on all do); 20 for
    one that is none of `allowed`."""
    word = mode.strip().upper().replace(" ", "_").replace("-", "_")
    if word in ("PREFERREDON", "PREFERREDOFF"):
        word = word.replace("PREFERRED", "PREFERRED_")
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


def encrypt(global_mode: str, client_mode: str, image_on: bool = False) -> bool:
    """Whether the stream is encrypted; NbuError(26) when the modes forbid the job."""
    g = normal(global_mode or DEFAULT_GLOBAL, GLOBAL_MODES)
    c = normal(client_mode or DEFAULT_CLIENT, CLIENT_MODES)
    if c == "OFF":
        if g == "ENFORCED" or image_on:
            why = "the global DTE mode is ENFORCED" if g == "ENFORCED" else \
                "the image was backed up with data-in-transit encryption"
            raise NbuError(HANDSHAKE_FAILED, f"data-in-transit encryption is off on this "
                                             f"client (DTE_CLIENT_MODE = OFF) but {why}")
        return False
    return c == "ON" or g != "PREFERRED_OFF" or image_on


def described(encrypt: bool) -> str:
    """What the job's details say of the image stream between hosts."""
    return ("; data-in-transit encryption on (TLS)" if encrypt
            else "; data-in-transit encryption off (the image crosses in the clear)")
