"""API keys in the admin: created with the raw key shown once, revoked by an action."""

from django.contrib.messages import get_messages

from partners.models import ApiKey
from partners.services import api_key_hash


def test_admin_creates_key_and_shows_it_once(client, superuser, api_channel):
    client.force_login(superuser)
    response = client.post(
        "/admin/partners/apikey/add/", {"channel": api_channel.pk, "name": "ERP"}, follow=True
    )
    assert response.status_code == 200
    [message] = [
        m.message for m in get_messages(response.wsgi_request) if "Copy it now" in m.message
    ]
    raw = message.rsplit(" ", 1)[-1]
    key = ApiKey.objects.get()
    assert (key.channel, key.name, key.key_hash) == (api_channel, "ERP", api_key_hash(raw))


def test_admin_action_revokes_keys(client, superuser, api_key):
    client.force_login(superuser)
    client.post(
        "/admin/partners/apikey/",
        {"action": "revoke", "_selected_action": [api_key[0].pk]},
    )
    api_key[0].refresh_from_db()
    assert api_key[0].revoked_at is not None
