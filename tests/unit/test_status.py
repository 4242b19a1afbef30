from pathlib import Path

from nbcli import status
from nbcli.status import NbuError


def test_codes_are_unique_and_all_have_messages() -> None:
    text = Path(status.__file__).read_text()
    body = text[text.index("MESSAGES"):text.index("\n}\n")]
    keys = [line.split(":")[0].strip() for line in body.splitlines()[1:] if ":" in line]
    assert len(keys) == len(set(keys)), "a status code appears twice in the table"
    assert all(isinstance(m, str) and m.strip() for m in status.MESSAGES.values())
    assert len(status.MESSAGES) > 250


def test_known_messages_are_netbackups() -> None:
    assert status.message(46) == "server not allowed access"
    assert status.message(227) == "no entity was found"
    assert status.message(196) == "client backup was not attempted because backup window closed"
    assert status.exit_line(239) == \
        "EXIT STATUS 239: the specified client does not exist in the specified policy"


def test_error_carries_status_and_detail() -> None:
    e = NbuError(230, "policy nope")
    assert e.status == 230 and e.detail == "policy nope"
    assert "the specified policy does not exist" in str(e)
    assert status.message(99999).startswith("unknown status code")
