"""The routing rules screens (/ops/routing/), their permissions, publishing, and the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from inventory.models import Allocation
from orders.models import OrderEvent
from orders.services.allocation import order_allocate
from routing.models import Rule, RuleSet
from routing.services.rulesets import ruleset_draft_create, ruleset_publish
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import (
    channel_with_warehouses,
    order_with_lines,
    product,
    stock,
    warehouses,
)
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db

LIST = "/ops/routing/"


def _url(rule_set: RuleSet, tail: str = "") -> str:
    return f"/ops/routing/{rule_set.pk}/{tail}"


@pytest.fixture
def sites(db):
    return WarehouseFactory(code="own-berlin"), WarehouseFactory(code="own-vienna")


@pytest.fixture
def draft(db, sites):
    return ruleset_draft_create(name="Winter", actor="lead")


def _rule(rule_set: RuleSet, position: int, **fields) -> Rule:
    fields.setdefault("name", f"rule {position}")
    return Rule.objects.create(rule_set=rule_set, position=position, **fields)


def _rule_post(**overrides) -> dict[str, str]:
    data = {
        "name": "Fragile to DACH",
        "channels": "",
        "countries": "de, AT",
        "postcode_prefixes": "",
        "service_levels": "",
        "skus": "",
        "tags": "fragile",
        "min_order_value": "",
        "max_order_value": "",
        "min_weight_grams": "",
        "max_weight_grams": "",
        "customs_required": "",
        "action": "only",
        "sites": "own-berlin",
        "providers": "",
        "split_policy": "complete",
        "max_shipments": "",
        "objective": "cheapest",
        "max_delivery_days": "",
    }
    return data | overrides


# --- the list -------------------------------------------------------------------------


def test_list_says_the_built_in_default_routes_when_nothing_is_published(client, manager):
    client.force_login(manager)
    response = client.get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="built-in-note"' in body
    assert "channel's warehouse priority, in the fewest shipments" in body
    assert "New empty draft" in body


def test_list_names_the_version_in_force_and_offers_a_draft_from_it(client, manager, draft):
    _rule(draft, 1)
    ruleset_publish(rule_set_id=draft.pk, actor="lead")
    ruleset_draft_create(name="Spring", actor="lead", based_on=draft)
    client.force_login(manager)
    body = client.get(LIST).content.decode()
    assert "built-in-note" not in body
    assert f'In force: <a href="/ops/routing/{draft.pk}/"><strong>v{draft.version} Winter' in body
    assert f"New draft from v{draft.version}" in body
    assert "Spring" in body


@pytest.mark.parametrize("versions", [10, 50])
def test_list_query_count_does_not_grow_with_versions(
    client, manager, django_assert_max_num_queries, versions
):
    for n in range(versions):
        rule_set = ruleset_draft_create(name=f"v{n}", actor="lead")
        _rule(rule_set, 1)
    client.force_login(manager)
    with django_assert_max_num_queries(8):
        response = client.get(LIST)
    assert response.status_code == 200
    assert response.content.decode().count("data-version=") == versions


def test_new_draft_from_the_published_version_copies_its_rules(client, manager, draft, sites):
    _rule(draft, 1, countries=["DE"], action="only", sites=["own-berlin"])
    ruleset_publish(rule_set_id=draft.pk, actor="lead")
    client.force_login(manager)
    response = client.post(LIST, {"based_on": str(draft.pk)})
    new = RuleSet.objects.get(status="draft")
    assert response.status_code == 302
    assert response["Location"] == _url(new)
    assert new.based_on == draft
    assert new.created_by == "manager"
    assert list(new.rules.values_list("countries", "sites")) == [(["DE"], ["own-berlin"])]


def test_new_empty_draft(client, manager):
    client.force_login(manager)
    client.post(LIST, {"based_on": ""})
    new = RuleSet.objects.get()
    assert new.status == "draft"
    assert new.rules.count() == 0


# --- the rule set page ----------------------------------------------------------------


def test_rule_set_page_lists_rules_in_words(client, manager, draft):
    _rule(
        draft, 1, name="Fragile", countries=["DE", "AT"], tags=["fragile"], action="only",
        sites=["own-berlin"], split_policy="complete", objective="cheapest",
    )  # fmt: skip
    _rule(draft, 2, name="Heavy", min_weight_grams=20000, split_policy="max_shipments",
          max_shipments=2)  # fmt: skip
    client.force_login(manager)
    body = client.get(_url(draft)).content.decode()
    assert "DE, AT · tag fragile" in body
    assert "→ only own-berlin · ship complete · cheapest" in body
    assert "weight ≥ 20000 g" in body
    assert "at most 2 shipments" in body
    assert body.index("Fragile") < body.index("Heavy")
    assert 'id="whatif"' in body
    assert "Publish v" in body


def test_rule_set_page_shows_the_problems_publishing_would_refuse(client, manager, draft):
    _rule(draft, 1, name="Ghost", action="only", sites=["nowhere"])
    client.force_login(manager)
    body = client.get(_url(draft)).content.decode()
    assert 'id="problems"' in body
    assert "unknown sites: nowhere" in body


@pytest.mark.parametrize("rules", [10, 50])
def test_rule_set_page_query_count_does_not_grow_with_rules(
    client, manager, draft, django_assert_max_num_queries, rules
):
    for n in range(1, rules + 1):
        _rule(draft, n, countries=["DE"], action="only", sites=["own-berlin"])
    client.force_login(manager)
    with django_assert_max_num_queries(14):
        response = client.get(_url(draft))
    assert response.status_code == 200
    assert response.content.decode().count('data-position="') == rules


def test_add_rule_saves_it_last_with_lists_split_on_commas(client, manager, draft):
    _rule(draft, 1)
    client.force_login(manager)
    response = client.post(_url(draft, "rules/new/"), _rule_post())
    assert response.status_code == 302, response.content.decode()
    rule = draft.rules.get(name="Fragile to DACH")
    assert rule.position == 2
    assert rule.countries == ["DE", "AT"]
    assert rule.tags == ["fragile"]
    assert rule.sites == ["own-berlin"]
    assert rule.customs_required is None


def test_rule_form_has_help_for_every_field(client, manager, draft):
    client.force_login(manager)
    body = client.get(_url(draft, "rules/new/")).content.decode()
    for field in ("name", "countries", "tags", "sites", "customs_required", "objective"):
        assert f'id="id_{field}_helptext"' in body, field
    assert '<select name="action"' in body


def test_rule_form_shows_unknown_site_codes_at_the_field(client, manager, draft):
    client.force_login(manager)
    response = client.post(_url(draft, "rules/new/"), _rule_post(sites="own-berlin, nowhere"))
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="field-sites"' in body
    assert "unknown sites: nowhere" in body
    assert not draft.rules.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"min_weight_grams": "500", "max_weight_grams": "100"},
            "the maximum weight is below the minimum",
        ),
        ({"split_policy": "max_shipments"}, "&#x27;at most N shipments&#x27; needs N"),
        ({"countries": "DEU"}, "At most 2 characters each"),
        ({"action": "exclude", "sites": ""}, "exclude needs sites, providers"),
    ],
)
def test_rule_form_refuses_bad_rules(client, manager, draft, overrides, message):
    client.force_login(manager)
    response = client.post(_url(draft, "rules/new/"), _rule_post(**overrides))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not draft.rules.exists()


def test_edit_rule(client, manager, draft):
    rule = _rule(draft, 1)
    client.force_login(manager)
    response = client.post(
        _url(draft, f"rules/{rule.pk}/"), _rule_post(name="Renamed", customs_required="true")
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.position, rule.customs_required) == ("Renamed", 1, True)


def test_move_up_and_down_and_delete(client, manager, draft):
    a, b, c = (_rule(draft, n, name=name) for n, name in ((1, "a"), (2, "b"), (3, "c")))
    client.force_login(manager)
    client.post(_url(draft, f"rules/{c.pk}/move/"), {"direction": "up"})
    order = list(draft.rules.order_by("position").values_list("name", flat=True))
    assert order == ["a", "c", "b"]
    client.post(_url(draft, f"rules/{a.pk}/move/"), {"direction": "down"})
    client.post(_url(draft, f"rules/{a.pk}/move/"), {"direction": "down"})
    client.post(_url(draft, f"rules/{a.pk}/move/"), {"direction": "down"})  # already last
    assert list(draft.rules.order_by("position").values_list("name", "position")) == [
        ("c", 1), ("b", 2), ("a", 3),
    ]  # fmt: skip
    client.post(_url(draft, f"rules/{b.pk}/delete/"))
    assert list(draft.rules.order_by("position").values_list("name", flat=True)) == ["c", "a"]


def test_defaults_form_saves_the_defaults(client, manager, draft):
    client.force_login(manager)
    response = client.post(
        _url(draft),
        {
            "name": "Winter 2",
            "note": "peak season",
            "default_split_policy": "max_shipments",
            "default_max_shipments": "2",
            "default_objective": "cheapest_on_time",
            "default_max_delivery_days": "3",
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.name, draft.default_split_policy, draft.default_max_shipments) == (
        "Winter 2", "max_shipments", 2,
    )  # fmt: skip
    assert (draft.default_objective, draft.default_max_delivery_days) == ("cheapest_on_time", 3)


def test_defaults_form_refuses_at_most_n_without_n(client, manager, draft):
    client.force_login(manager)
    response = client.post(
        _url(draft),
        {"name": "W", "default_split_policy": "max_shipments", "default_objective": "priority",
         "default_max_delivery_days": "5"},
    )  # fmt: skip
    assert response.status_code == 422
    draft.refresh_from_db()
    assert draft.default_split_policy == "fewest"


# --- permissions ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "warehouse_user"])
def test_agents_and_warehouse_staff_do_not_see_routing(request, client, draft, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(LIST).status_code == 403
    assert client.get(_url(draft)).status_code == 403
    assert client.post(_url(draft, "publish/"), {"confirm": "on"}).status_code == 403
    draft.refresh_from_db()
    assert draft.status == "draft"


@pytest.fixture
def viewer(make_user):
    user = make_user("viewer")
    user.user_permissions.set(Permission.objects.filter(codename="view_ruleset"))
    return user


def test_a_reader_sees_the_rules_but_cannot_change_or_publish_them(client, viewer, draft):
    rule = _rule(draft, 1, name="Kept")
    client.force_login(viewer)
    body = client.get(_url(draft)).content.decode()
    assert "Kept" in body
    assert "Publish v" not in body
    assert 'id="rule-add"' not in body
    client.post(_url(draft, f"rules/{rule.pk}/"), _rule_post(name="Changed"))
    client.post(_url(draft, f"rules/{rule.pk}/delete/"))
    client.post(_url(draft, "publish/"), {"confirm": "on"})
    client.post(LIST, {"based_on": ""})
    rule.refresh_from_db()
    draft.refresh_from_db()
    assert rule.name == "Kept"
    assert draft.status == "draft"
    assert RuleSet.objects.count() == 1


def test_the_manager_holds_the_routing_permissions(manager):
    assert manager.has_perms(
        ["routing.view_ruleset", "routing.change_ruleset", "routing.add_ruleset",
         "routing.publish_ruleset", "routing.change_rule"]
    )  # fmt: skip


# --- publishing -----------------------------------------------------------------------


def test_publish_records_who_and_when_and_retires_the_previous_version(
    client, manager, draft, django_capture_on_commit_callbacks
):
    ruleset_publish(rule_set_id=draft.pk, actor="lead")
    second = ruleset_draft_create(name="Spring", actor="manager", based_on=draft)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(second, "publish/"), {"confirm": "on"})
    assert response.status_code == 302
    second.refresh_from_db()
    draft.refresh_from_db()
    assert (second.status, second.published_by) == ("published", "manager")
    assert second.published_at is not None
    assert draft.status == "retired"
    body = client.get(_url(second)).content.decode()
    assert "In force" in body
    assert "New draft from this" in body
    assert 'id="rule-add"' not in body


def test_publish_needs_the_confirmation(client, manager, draft):
    client.force_login(manager)
    response = client.post(_url(draft, "publish/"), {})
    assert response.status_code == 422
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_publish_is_refused_while_a_rule_has_problems(client, manager, draft):
    _rule(draft, 1, name="Ghost", action="only", sites=["nowhere"])
    client.force_login(manager)
    response = client.post(_url(draft, "publish/"), {"confirm": "on"})
    assert response.status_code == 422
    assert "unknown sites: nowhere" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_published_version_is_read_only(client, manager, draft):
    rule = _rule(draft, 1, name="Kept")
    ruleset_publish(rule_set_id=draft.pk, actor="lead")
    client.force_login(manager)
    page = client.get(_url(draft, f"rules/{rule.pk}/")).content.decode()
    assert 'id="read-only"' in page
    assert "Save rule" not in page
    refusals = [
        client.post(_url(draft, f"rules/{rule.pk}/"), _rule_post(name="Changed")),
        client.post(_url(draft, "rules/new/"), _rule_post()),
        client.post(_url(draft, f"rules/{rule.pk}/delete/")),
        client.post(_url(draft, f"rules/{rule.pk}/move/"), {"direction": "down"}),
        client.post(_url(draft), {"name": "Changed", "default_split_policy": "fewest",
                                  "default_objective": "priority",
                                  "default_max_delivery_days": "5"}),
        client.post(_url(draft, "publish/"), {"confirm": "on"}),
    ]  # fmt: skip
    assert [r.status_code for r in refusals] == [409] * len(refusals)
    assert "only a draft can be changed" in refusals[0].content.decode()
    rule.refresh_from_db()
    draft.refresh_from_db()
    assert (rule.name, draft.name, draft.rules.count()) == ("Kept", "Winter", 1)


def test_publishing_a_rule_routes_the_next_order_by_it_at_once(
    client, manager, django_capture_on_commit_callbacks
):
    first, second = warehouses("wh-first", "wh-second")
    channel = channel_with_warehouses("webshop", [first, second])
    shirt = product("SHIRT")
    stock(shirt, first, 10)
    stock(shirt, second, 10)
    # Routed by the built-in default, which the process now holds in its tables.
    before = order_with_lines(channel, [(shirt, 1)], shipping_country="DE")
    order_allocate(order=before)
    assert _sites(before) == {"wh-first"}

    draft = ruleset_draft_create(name="DE from second", actor="manager")
    _rule(draft, 1, name="Germany", countries=["DE"], action="only", sites=["wh-second"])
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(draft, "publish/"), {"confirm": "on"})
    assert response.status_code == 302

    german = order_with_lines(channel, [(shirt, 1)], shipping_country="DE")
    order_allocate(order=german)
    assert _sites(german) == {"wh-second"}
    routing = german.events.get(type=OrderEvent.Type.ALLOCATED).parameters["routing"]
    assert routing["rule_set"] == draft.version
    assert routing["rule"]["name"] == "Germany"
    dutch = order_with_lines(channel, [(shirt, 1)], shipping_country="NL")
    order_allocate(order=dutch)
    assert _sites(dutch) == {"wh-first"}


def _sites(order) -> set[str]:
    return set(
        Allocation.objects.filter(order_line__order=order).values_list("warehouse__code", flat=True)
    )


# --- the admin ------------------------------------------------------------------------


def _admin_add_data(**overrides) -> dict[str, str]:
    data = {
        "name": "From the admin",
        "note": "",
        "default_split_policy": "fewest",
        "default_max_shipments": "",
        "default_objective": "priority",
        "default_max_delivery_days": "5",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    rule = {
        "position": "1", "name": "DE", "channels": "", "countries": "DE", "postcode_prefixes": "",
        "service_levels": "", "skus": "", "tags": "", "min_order_value": "",
        "max_order_value": "", "min_weight_grams": "", "max_weight_grams": "",
        "customs_required": "unknown", "action": "only", "sites": "own-berlin", "providers": "",
        "split_policy": "", "max_shipments": "", "objective": "", "max_delivery_days": "",
    }  # fmt: skip
    data |= {f"rules-0-{k}": v for k, v in rule.items()}
    return data | overrides


def test_admin_add_numbers_the_new_draft(client, manager, draft):
    client.force_login(manager)
    response = client.post(reverse("admin:routing_ruleset_add"), _admin_add_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    added = RuleSet.objects.get(name="From the admin")
    assert added.version == draft.version + 1
    assert (added.status, added.created_by) == ("draft", "manager")
    assert list(added.rules.values_list("position", "sites")) == [(1, ["own-berlin"])]


def test_admin_rule_with_an_unknown_site_is_an_error_at_the_field(client, manager, sites):
    client.force_login(manager)
    response = client.post(
        reverse("admin:routing_ruleset_add"), _admin_add_data(**{"rules-0-sites": "nowhere"})
    )
    assert response.status_code == 200
    assert "unknown sites: nowhere" in response.content.decode()
    assert not RuleSet.objects.exists()


def test_admin_swaps_two_rules_positions_in_one_save(client, manager, draft):
    a, b = _rule(draft, 1, name="a"), _rule(draft, 2, name="b")
    client.force_login(manager)
    url = reverse("admin:routing_ruleset_change", args=[draft.pk])
    data = _admin_add_data(name="Winter", **{"rules-TOTAL_FORMS": "2", "rules-INITIAL_FORMS": "2"})
    data = {k: v for k, v in data.items() if not k.startswith("rules-0-")}
    for index, (rule, position) in enumerate(((a, 2), (b, 1))):
        data |= {
            f"rules-{index}-id": str(rule.pk), f"rules-{index}-rule_set": str(draft.pk),
            f"rules-{index}-position": str(position), f"rules-{index}-name": rule.name,
            f"rules-{index}-action": "none", f"rules-{index}-customs_required": "unknown",
        }  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(draft.rules.order_by("position").values_list("name", flat=True)) == ["b", "a"]


def test_admin_shows_a_published_set_read_only(client, manager, draft):
    _rule(draft, 1, name="Kept")
    ruleset_publish(rule_set_id=draft.pk, actor="lead")
    client.force_login(manager)
    url = reverse("admin:routing_ruleset_change", args=[draft.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(url, _admin_add_data(name="Changed"))
    assert response.status_code == 403
    delete = client.post(reverse("admin:routing_ruleset_delete", args=[draft.pk]), {"post": "yes"})
    assert delete.status_code == 403
    draft.refresh_from_db()
    assert (draft.name, draft.status) == ("Winter", "published")


def test_admin_publish_action(client, manager, draft):
    client.force_login(manager)
    response = client.post(
        reverse("admin:routing_ruleset_changelist"),
        {"action": "publish", "_selected_action": [str(draft.pk)]},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.published_by) == ("published", "manager")


def test_admin_publish_action_needs_the_permission(client, make_user, draft):
    user = make_user("clerk")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_ruleset", "change_ruleset"])
    )
    client.force_login(user)
    client.post(
        reverse("admin:routing_ruleset_changelist"),
        {"action": "publish", "_selected_action": [str(draft.pk)]},
    )
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_channel_codes_are_checked_too(client, manager, draft):
    ChannelFactory(code="webshop")
    client.force_login(manager)
    response = client.post(_url(draft, "rules/new/"), _rule_post(channels="webshop, nope"))
    assert response.status_code == 422
    assert "unknown channels: nope" in response.content.decode()
