"""Email address validity: the fast path for plain addresses never accepts what the
validator (email_validator, the authority) rejects, and both agree on a table of real and
tricky addresses."""

import random

import email_validator
import pytest

from drumbeat.lib.normalize import _plainly_valid, is_valid_email


def validator_accepts(address: str) -> bool:
    try:
        email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


# (address, valid): what a marketer's lists contain, and the edges of the syntax.
CASES = [
    ("jane.doe@example.org", True),
    ("j.o.h.n+newsletter@mail.example.co.uk", True),
    ("o'brien@example.ie", True),
    ("first_last%dept@sub-domain.example.com", True),
    ("x@a-b-c.io", True),
    ("user@xn--bcher-kva.example", True),  # an IDN in its ASCII form
    ("1234567890@example.museum", True),
    ("a" * 64 + "@example.org", True),
    ("a" * 65 + "@example.org", True),  # RFC 5321's 64 is not enforced by the validator
    ("user@" + "a" * 63 + ".com", True),
    ("user@" + "a" * 64 + ".com", False),  # a label over 63
    ("user@" + ".".join(["a" * 60] * 5) + ".com", False),  # address over 254
    ("user@example", False),  # no dot in the domain
    ("user@example.123", False),  # a numeric TLD
    ("user@-example.org", False),
    ("user@example-.org", False),
    ("user@exa_mple.org", False),
    (".user@example.org", False),
    ("user.@example.org", False),
    ("us..er@example.org", False),
    ("user@@example.org", False),
    ("user example@example.org", False),
    ("user@example..org", False),
    ("user@localhost", False),
    ("user@printer.local", False),  # special-use domains
    ("user@site.test", False),
    ("user@host.invalid", False),
    ("user@foo.onion", False),
    ("user@10.in-addr.arpa", False),
    ("@example.org", False),
    ("user@", False),
    ("", False),
    ("user@[192.168.0.1]", False),  # domain literals are refused
    ('"quoted"@example.org', False),
    ("josé@example.es", True),  # not plain: the validator decides (SMTPUTF8)
    ("user@bücher.example", True),
    ("user@ab--cd.example", False),  # "--" in positions 3-4 is reserved (IDNA)
    ("a--b@x--y.example.com", True),
]


@pytest.mark.parametrize(("address", "valid"), CASES)
def test_validity_of_real_and_tricky_addresses(address, valid):
    assert is_valid_email(address) is valid
    assert validator_accepts(address) is valid


def test_the_fast_path_answers_plain_addresses_and_leaves_the_rest_to_the_validator():
    assert _plainly_valid("jane.doe@example.org")
    assert _plainly_valid("j.o.h.n+newsletter@mail.example.co.uk")
    for address in ("josé@example.es", "user@site.test", "o'brien@example.ie", "a--b@x--y.com"):
        assert not _plainly_valid(address)


def test_the_fast_path_never_accepts_what_the_validator_rejects():
    """Random addresses built from the characters and shapes near the rules' edges."""
    rng = random.Random(20261205)

    def part(chars: str, common: str, longest: int) -> str:
        return "".join(
            rng.choice(chars if rng.random() < 0.1 else common)
            for _ in range(rng.choice([0, 1, 2, 5, 12, longest]))
        )

    tlds = ["com", "org", "io", "c", "co1", "local", "test", "arpa", "x" * 64, "museum", "123"]
    accepted = 0
    for _ in range(20000):
        local = part("._%+-'!#~", "abz09", 70)
        labels = [part("-_.", "abz09", 66) for _ in range(rng.randint(1, 4))]
        address = f"{local}@{'.'.join([*labels, rng.choice(tlds)])}"
        if _plainly_valid(address):
            accepted += 1
            assert validator_accepts(address), address
    assert accepted > 500  # the generator does reach the fast path (896 with this seed)
