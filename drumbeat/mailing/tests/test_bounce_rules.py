"""One test per rule of the classification table (mailing/bounce_rules.py)."""

import pytest

from drumbeat.mailing.bounce_rules import (
    REPLY_RULES,
    STATUS_RULES,
    TEXT_RULES,
    classify,
    find_reply_code,
    find_status,
)

# A wording each text rule must recognise, as some server writes it.
TEXT_EXAMPLES = {
    "auth": ("550 5.7.26 This mail is unauthenticated and has been blocked", "block", "auth"),
    "rate_limited": ("421 4.7.28 unusual rate of unsolicited mail", "block", "rate_limited"),
    "blacklist": ("554 Client host [192.0.2.1] blocked using zen.spamhaus.org", "block", "policy"),
    "spam": ("554 5.7.1 Message rejected as spam by Content Filtering", "block", "spam"),
    "relay": ("554 5.7.1 <a@example.com>: Relay access denied", "block", "policy"),
    "sender_policy": ("550 Administrative prohibition", "block", "policy"),
    "mailbox_full": ("552 5.2.2 Mailbox full", "soft", "mailbox_full"),
    "too_big": ("552 Message size exceeds maximum permitted", "soft", "too_big"),
    "expired": ("retry timeout exceeded", "soft", "expired"),
    "suspended": ("550 This account has been suspended", "soft", "other"),
    "no_domain": ("Host or domain name not found", "hard", "no_domain"),
    "user_unknown": ("550 5.1.1 <a@example.com>: User unknown", "hard", "user_unknown"),
    "network": ("connect to mx.example.com: Connection timed out", "soft", "network"),
}


def test_every_text_rule_has_an_example():
    assert {rule.name for rule in TEXT_RULES} == set(TEXT_EXAMPLES)


@pytest.mark.parametrize("name", sorted(TEXT_EXAMPLES))
def test_it_applies_each_text_rule(name):
    text, kind, category = TEXT_EXAMPLES[name]

    verdict = classify(text=text)

    assert (verdict.kind, verdict.category, verdict.rule) == (kind, category, f"text:{name}")


@pytest.mark.parametrize(
    "status, kind, category",
    [
        ("5.1.1", "hard", "user_unknown"),
        ("5.1.2", "hard", "no_domain"),
        ("5.1.10", "hard", "no_domain"),
        ("5.2.1", "hard", "user_unknown"),
        ("5.2.2", "soft", "mailbox_full"),
        ("5.3.4", "soft", "too_big"),
        ("4.4.7", "soft", "expired"),
        ("5.7.1", "block", "policy"),
        ("5.7.26", "block", "auth"),
        ("4.7.28", "block", "rate_limited"),
        ("5.0.0", None, None),
    ],
)
def test_it_reads_enhanced_status_codes_when_the_wording_is_unknown(status, kind, category):
    verdict = classify(status=status, text="zzz")

    if kind is None:  # nothing specific: the default
        assert (verdict.kind, verdict.category, verdict.rule) == ("soft", "other", "default")
    else:
        assert (verdict.kind, verdict.category) == (kind, category)
        assert verdict.rule == f"status:{status}"


@pytest.mark.parametrize("code", sorted(REPLY_RULES))
def test_it_falls_back_to_the_smtp_reply_code(code):
    verdict = classify(code=code, text="zzz")

    assert (verdict.kind, verdict.category) == REPLY_RULES[code]


def test_a_temporary_code_never_makes_a_failure_hard():
    assert classify(text="450 4.1.1 <a@example.com>: User unknown").kind == "soft"
    assert classify(status="4.1.1").kind == "soft"


def test_status_rules_only_name_known_kinds():
    assert {kind for kind, _ in STATUS_RULES.values()} <= {"hard", "soft", "block"}


@pytest.mark.parametrize(
    "text, status, code",
    [
        ("smtp; 550-5.7.26 This mail is unauthenticated", "5.7.26", 550),
        ("Remote host said: 554 delivery error", "", 554),
        ("Postfix 3.5.1 says 250 ok", "", None),
        ("550 #5.1.0 Address rejected.", "5.1.0", 550),
    ],
)
def test_it_finds_codes_in_text(text, status, code):
    assert (find_status(text), find_reply_code(text)) == (status, code)
