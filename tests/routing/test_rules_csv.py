"""A rule set's rules as CSV: export, import into a draft (all or nothing), the commands."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from core.errors import Conflict, ValidationFailed
from routing.models import Rule, RuleSet
from routing.services.rules_csv import COLUMNS, rules_csv_export, rules_csv_import
from routing.services.rulesets import RULE_FIELDS, ruleset_draft_create, ruleset_publish
from tests.inventory.factories import WarehouseFactory
from tests.logistics.factories import ProviderFactory
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    WarehouseFactory(code="own-berlin")
    WarehouseFactory(code="own-vienna")
    ChannelFactory(code="webshop")
    ProviderFactory(code="dhl")
    return ruleset_draft_create(name="Source", actor="lead")


def _rules(rule_set: RuleSet) -> list[dict]:
    return [
        {f: getattr(rule, f) for f in RULE_FIELDS} for rule in rule_set.rules.order_by("position")
    ]


def _fill(rule_set: RuleSet) -> None:
    Rule.objects.bulk_create(
        [
            Rule(rule_set=rule_set, position=1, name="Fragile DACH", countries=["DE", "AT"],
                 tags=["fragile"], action="only", sites=["own-berlin", "own-vienna"],
                 split_policy="complete", objective="cheapest"),
            Rule(rule_set=rule_set, position=2, name="=HYPERLINK(\"x\") big", channels=["webshop"],
                 min_order_value=Decimal("100.50"), max_order_value=Decimal("2000"),
                 min_weight_grams=10, max_weight_grams=30000, customs_required=True,
                 action="exclude", providers=["dhl"], split_policy="max_shipments",
                 max_shipments=2, objective="cheapest_on_time", max_delivery_days=3),
            Rule(rule_set=rule_set, position=4, name="-Berlin postcodes",
                 postcode_prefixes=["10", "12"], customs_required=False, action="prefer",
                 service_levels=[], skus=["SKU-1", "SKU-2"]),
        ]
    )  # fmt: skip


def test_export_has_one_row_per_rule_with_lists_joined_by_bars(world):
    _fill(world)
    rows = list(csv.reader(io.StringIO(rules_csv_export(rule_set=world))))
    assert rows[0] == COLUMNS == ["position", *RULE_FIELDS]
    assert len(rows) == 4
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["countries"] == "DE|AT"
    assert first["sites"] == "own-berlin|own-vienna"
    assert first["customs_required"] == ""
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["name"].startswith("'=")  # a spreadsheet would run it
    assert (second["customs_required"], second["min_order_value"]) == ("true", "100.5000")


def test_export_then_import_into_a_new_draft_gives_the_same_rules(world):
    _fill(world)
    text = rules_csv_export(rule_set=world)
    target = ruleset_draft_create(name="Target", actor="lead")
    Rule.objects.create(rule_set=target, position=1, name="replaced")

    count = rules_csv_import(rule_set_id=target.pk, text=text)

    assert count == 3
    assert _rules(target) == _rules(world)
    assert list(target.rules.order_by("position").values_list("position", flat=True)) == [1, 2, 3]


def _csv(*rows: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(dict.fromkeys(COLUMNS, "") | row)
    return out.getvalue()


def test_an_unknown_site_on_row_3_is_named_and_nothing_changes(world):
    Rule.objects.create(rule_set=world, position=1, name="kept")
    text = _csv(
        {"position": "1", "name": "ok", "countries": "DE", "action": "only", "sites": "own-berlin"},
        {"position": "2", "name": "bad", "action": "only", "sites": "own-berlin|nowhere"},
    )
    with pytest.raises(ValidationFailed) as refused:
        rules_csv_import(rule_set_id=world.pk, text=text)
    assert refused.value.errors == [{"field": "row 3: sites", "message": "unknown sites: nowhere"}]
    assert list(world.rules.values_list("name", flat=True)) == ["kept"]


def test_every_bad_row_is_listed(world):
    text = _csv(
        {"name": "a", "min_weight_grams": "heavy"},
        {"name": "b", "countries": "DEU"},
        {"name": "", "objective": "fastest"},
        {"name": "d", "split_policy": "max_shipments"},
        {"name": "e", "customs_required": "maybe"},
        {"name": "f", "min_order_value": "1,5"},
        {"name": "g", "action": "teleport", "sites": "own-berlin"},
        {"name": "h", "channels": "webshop|elsewhere", "providers": "dhl|ups", "action": "only"},
    )
    with pytest.raises(ValidationFailed) as refused:
        rules_csv_import(rule_set_id=world.pk, text=text)
    fields = [e["field"] for e in refused.value.errors]
    assert fields[:4] == ["row 2: min_weight_grams", "row 3: countries", "row 4: name",
                          "row 5: max_shipments"]  # fmt: skip
    assert "row 6: customs_required" in fields
    assert "row 7: min_order_value" in fields
    assert "row 8: action" in fields
    assert {"row 9: channels", "row 9: providers"} <= set(fields)
    assert not world.rules.exists()


def test_positions_order_the_rules_and_must_not_repeat(world):
    text = _csv({"position": "5", "name": "later"}, {"position": "", "name": "unnumbered"},
                {"position": "2", "name": "first"})  # fmt: skip
    rules_csv_import(rule_set_id=world.pk, text=text)
    assert list(world.rules.order_by("position").values_list("position", "name")) == [
        (1, "first"), (2, "later"), (3, "unnumbered"),
    ]  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        rules_csv_import(rule_set_id=world.pk, text=_csv({"position": "1", "name": "a"},
                                                         {"position": "1", "name": "b"}))  # fmt: skip
    assert refused.value.errors[0]["field"] == "row 3: position"


def test_a_file_without_the_columns_is_refused(world):
    with pytest.raises(ValidationFailed) as refused:
        rules_csv_import(rule_set_id=world.pk, text="position,colour\n1,red\n")
    assert {e["message"] for e in refused.value.errors} == {
        "missing column name", "unknown column colour",
    }  # fmt: skip


def test_a_published_version_is_not_imported_into(world):
    ruleset_publish(rule_set_id=world.pk, actor="lead")
    with pytest.raises(Conflict):
        rules_csv_import(rule_set_id=world.pk, text=_csv({"name": "a"}))
    assert not world.rules.exists()


# --- the ops screen -------------------------------------------------------------------


def test_screen_export_and_import(client, manager, world):
    _fill(world)
    client.force_login(manager)
    exported = client.get(f"/ops/routing/{world.pk}/rules.csv")
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == (
        f'attachment; filename="routing-rules-v{world.version}.csv"'
    )
    target = ruleset_draft_create(name="Target", actor="lead")
    response = client.post(
        f"/ops/routing/{target.pk}/import/",
        {"file": SimpleUploadedFile("rules.csv", exported.content, "text/csv")},
    )
    assert response.status_code == 302
    assert _rules(target) == _rules(world)


def test_screen_import_lists_the_bad_rows_and_changes_nothing(client, manager, world):
    Rule.objects.create(rule_set=world, position=1, name="kept")
    client.force_login(manager)
    text = _csv({"name": "ok"}, {"name": "bad", "action": "only", "sites": "nowhere"})
    response = client.post(
        f"/ops/routing/{world.pk}/import/",
        {"file": SimpleUploadedFile("rules.csv", text.encode(), "text/csv")},
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="import-errors"' in body
    assert "<strong>row 3: sites</strong>: unknown sites: nowhere" in body
    assert list(world.rules.values_list("name", flat=True)) == ["kept"]


def test_screen_import_refuses_a_file_that_is_not_utf8(client, manager, world):
    client.force_login(manager)
    response = client.post(
        f"/ops/routing/{world.pk}/import/",
        {"file": SimpleUploadedFile("rules.csv", b"name\n\xff\xfe\n", "text/csv")},
    )
    assert response.status_code == 422
    assert "not UTF-8" in response.content.decode()


def test_screen_import_into_a_published_version_is_a_conflict(client, manager, world):
    ruleset_publish(rule_set_id=world.pk, actor="lead")
    client.force_login(manager)
    response = client.post(
        f"/ops/routing/{world.pk}/import/",
        {"file": SimpleUploadedFile("rules.csv", _csv({"name": "a"}).encode(), "text/csv")},
    )
    assert response.status_code == 409
    assert not world.rules.exists()


# --- the commands ---------------------------------------------------------------------


def test_commands_export_and_import(world, tmp_path, capsys):
    _fill(world)
    call_command("routing_rules_export", str(world.version))
    exported = capsys.readouterr().out
    assert exported == rules_csv_export(rule_set=world)
    target = ruleset_draft_create(name="Target", actor="lead")
    path = tmp_path / "rules.csv"
    path.write_text(exported, encoding="utf-8")

    call_command("routing_rules_import", str(target.version), str(path))

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"version": target.version, "status": "draft", "rules": 3}
    assert _rules(target) == _rules(world)


def test_command_export_to_a_file(world, tmp_path):
    _fill(world)
    path = tmp_path / "out.csv"
    call_command("routing_rules_export", str(world.version), output=str(path), stderr=io.StringIO())
    assert path.read_bytes().decode() == rules_csv_export(rule_set=world)


def test_command_import_names_the_bad_rows(world, tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text(_csv({"name": "a"}, {"name": "b", "sites": "nowhere", "action": "only"}))
    with pytest.raises(CommandError, match=r"row 3: sites: unknown sites: nowhere"):
        call_command("routing_rules_import", str(world.version), str(path))
    assert not world.rules.exists()


def test_command_import_refuses_an_unknown_or_published_version(world, tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text(_csv({"name": "a"}))
    with pytest.raises(CommandError, match="no rule set version 99"):
        call_command("routing_rules_import", "99", str(path))
    ruleset_publish(rule_set_id=world.pk, actor="lead")
    with pytest.raises(CommandError, match="only a draft can be changed"):
        call_command("routing_rules_import", str(world.version), str(path))
