"""The SMS counter (mailing/sms_text.py): GSM-7 and UCS-2 segments counted as carriers do."""

import pytest

from drumbeat.mailing.sms_text import GSM7, UCS2, SmsCount, count, with_footer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", SmsCount(0, GSM7, 0, 0)),
        ("a" * 160, SmsCount(160, GSM7, 160, 1)),
        ("a" * 161, SmsCount(161, GSM7, 161, 2)),  # 153 + 8
        ("a" * 306, SmsCount(306, GSM7, 306, 2)),
        ("a" * 307, SmsCount(307, GSM7, 307, 3)),
        ("$@£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", SmsCount(42, GSM7, 42, 1)),
        ("\r\n", SmsCount(2, GSM7, 2, 1)),
    ],
)
def test_it_counts_the_gsm7_basic_set_one_septet_a_character(text, expected):
    assert count(text) == expected


def test_it_counts_the_gsm7_extension_characters_twice():
    assert count("^{}\\[~]|€\f") == SmsCount(10, GSM7, 20, 1)
    assert count("€" * 80) == SmsCount(80, GSM7, 160, 1)
    # 81 euros are 162 septets: 76 euros (152 septets) fill the first segment of 153
    assert count("€" * 81) == SmsCount(81, GSM7, 162, 2)
    assert count("a" * 159 + "€") == SmsCount(160, GSM7, 161, 2)


def test_it_never_splits_an_escaped_character_between_two_segments():
    # 306 septets would fit two segments, but the euro lands on the first one's last septet:
    # segment 1 = 152 'a', segment 2 = '€' + 151 'a', segment 3 = 1 'a'.
    assert count("a" * 152 + "€" + "a" * 152) == SmsCount(305, GSM7, 306, 3)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ç" * 70, SmsCount(70, UCS2, 70, 1)),  # only the capital Ç is GSM-7
        ("ç" * 71, SmsCount(71, UCS2, 71, 2)),  # 67 + 4
        ("a" * 160 + "✓", SmsCount(161, UCS2, 161, 3)),  # one character switches it all
        ("€ ç", SmsCount(3, UCS2, 3, 1)),  # in UCS-2 the euro is one unit like any other
        ("Hello 😀", SmsCount(7, UCS2, 8, 1)),  # an emoji outside the BMP is two units
        ("`", SmsCount(1, UCS2, 1, 1)),  # the backtick is not GSM-7
    ],
)
def test_it_switches_the_whole_message_to_ucs2_for_one_other_character(text, expected):
    assert count(text) == expected


def test_it_never_splits_a_surrogate_pair_between_two_segments():
    # 134 units would fit two segments of 67, but the emoji would straddle them:
    # segment 1 = 66 'a', segment 2 = emoji + 65 'a', segment 3 = 1 'a'.
    assert count("a" * 66 + "😀" + "a" * 66) == SmsCount(133, UCS2, 134, 3)


def test_it_describes_a_count():
    assert count("a" * 161).describe() == "161 characters · 2 segments (GSM-7)"
    assert count("✓").describe() == "1 character · 1 segment (UCS-2)"


def test_it_puts_the_footer_on_a_line_of_its_own():
    assert with_footer("Sale today", "Reply STOP to opt out") == "Sale today\nReply STOP to opt out"
    assert with_footer("Sale today", "") == "Sale today"
