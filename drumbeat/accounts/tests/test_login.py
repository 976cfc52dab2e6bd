import pytest
from django.urls import reverse

from drumbeat.accounts.models import User

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="correct horse", role=User.Role.ADMIN)


def test_it_serves_the_login_page(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_it_logs_in_and_lands_on_home(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse"}, follow=True
    )

    assert response.status_code == 200
    assert response.wsgi_request.user == alice
    assert response.redirect_chain[0][0] == reverse("home")


def test_it_refuses_a_wrong_password(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_home_requires_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_home_shows_to_a_logged_in_user(client, alice):
    client.force_login(alice)

    response = client.get(reverse("home"), follow=True)

    assert response.status_code == 200
    assert response.wsgi_request.user == alice


def test_roles(alice):
    bob = User.objects.create_user("bob", first_name="Bob", last_name="Marley")
    assert alice.is_administrator
    assert not bob.is_administrator
    assert bob.display_name == "Bob Marley"
