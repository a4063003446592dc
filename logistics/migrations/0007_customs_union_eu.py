"""Seed the EU customs union (the 27 member states as of 2020, after the UK left)."""

from django.db import migrations

EU_MEMBERS = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"


def seed(apps, schema_editor):
    CustomsUnion = apps.get_model("logistics", "CustomsUnion")
    CustomsUnionMember = apps.get_model("logistics", "CustomsUnionMember")
    union, _ = CustomsUnion.objects.get_or_create(
        code="eu", defaults={"name": "European Union Customs Union"}
    )
    for country in EU_MEMBERS.split():
        CustomsUnionMember.objects.get_or_create(union=union, country=country)


def unseed(apps, schema_editor):
    apps.get_model("logistics", "CustomsUnion").objects.filter(code="eu").delete()


class Migration(migrations.Migration):
    dependencies = [("logistics", "0006_customs_returns")]

    operations = [migrations.RunPython(seed, unseed)]
