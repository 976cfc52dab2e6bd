import pytest

from drumbeat.accounts.models import ApiToken, User, hash_token

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def bob():
    return User.objects.create_user("bob", password="x")


def test_it_issues_a_token_and_stores_only_its_hash(bob):
    token, raw = ApiToken.issue(bob, "CI")

    assert raw.startswith("dbt_")
    assert token.token_hash == hash_token(raw) != raw
    assert token.prefix == raw[:12]
    assert ApiToken.authenticate(raw) == bob


def test_it_records_the_last_use(bob):
    token, raw = ApiToken.issue(bob, "CI")

    ApiToken.authenticate(raw)

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_it_refuses_unknown_revoked_and_inactive_users_tokens(bob):
    token, raw = ApiToken.issue(bob, "CI")
    assert ApiToken.authenticate(raw + "x") is None

    token.revoke()
    assert not token.is_active
    assert ApiToken.authenticate(raw) is None

    _, raw2 = ApiToken.issue(bob, "second")
    bob.is_active = False
    bob.save()
    assert ApiToken.authenticate(raw2) is None
