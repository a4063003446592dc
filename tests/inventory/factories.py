import factory
from factory.django import DjangoModelFactory

from inventory.models import Product, StockLevel, Warehouse


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Faker("word")
    barcode = factory.Sequence(lambda n: f"5{n:012d}")
    weight_grams = 500
    length_mm = 200
    width_mm = 150
    height_mm = 100
    hs_code = "620520"
    country_of_origin = "PT"
    customs_description = "Cotton shirt"
    customs_value = factory.Faker("pydecimal", left_digits=2, right_digits=2, positive=True)
    customs_currency = "EUR"


class WarehouseFactory(DjangoModelFactory[Warehouse]):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"wh-{n}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    kind = Warehouse.Kind.OWN
    country = "NL"
    city = "Tilburg"


class StockLevelFactory(DjangoModelFactory[StockLevel]):
    class Meta:
        model = StockLevel

    product = factory.SubFactory(ProductFactory)
    warehouse = factory.SubFactory(WarehouseFactory)
    on_hand = 10
    reserved = 0
