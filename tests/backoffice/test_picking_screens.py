"""Picking screens: the waves list and build, a wave's page, the handheld pick screen,
the pick list PDFs; constant query counts; who may pick."""

import io

import pytest
from pypdf import PdfReader

from logistics.models import PickTask, PickWave, Shipment
from logistics.services.picking import waves_build
from tests.logistics.picking_world import channel_for, own_site, planned_order, stocked

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return own_site(bins=(("A-01", "A", 10), ("A-02", "A", 20)))


@pytest.fixture
def orders(site):
    a = stocked("SKU-A", site, {"A-01": 10}, barcode="111")
    b = stocked("SKU-B", site, {"A-02": 10}, barcode="222")
    channel = channel_for(site)
    return [planned_order(channel, [(a, 1), (b, 1)]) for _ in range(3)]


def _text(response) -> str:
    return response.content.decode()


def test_build_waves_from_the_list(client, warehouse_user, site, orders):
    client.force_login(warehouse_user)

    response = client.post(
        "/warehouse/waves/build/",
        {"warehouse": site.code, "max_shipments": 2, "max_units": 100},
        follow=True,
    )

    html = _text(response)
    assert "2 wave(s) built at own-pick" in html
    assert 'id="waves"' in html
    assert PickWave.objects.count() == 2


def test_wave_list_and_page_take_constant_queries(
    client, warehouse_user, site, orders, django_assert_max_num_queries
):
    waves_build(warehouse=site, max_shipments=1)
    client.force_login(warehouse_user)
    wave = PickWave.objects.first()

    with django_assert_max_num_queries(10):
        assert client.get("/warehouse/waves/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(f"/warehouse/waves/{wave.pk}/").status_code == 200
    planned_order(channel_for(site), [(PickTask.objects.first().product, 1)])
    waves_build(warehouse=site, max_shipments=1)
    with django_assert_max_num_queries(10):
        assert client.get("/warehouse/waves/").status_code == 200


def test_handheld_scans_bin_then_item_and_refuses_the_wrong_one(
    client, warehouse_user, site, orders
):
    (wave,) = waves_build(warehouse=site)
    client.force_login(warehouse_user)
    url = f"/warehouse/pick/{wave.pk}/"
    html = _text(client.get(url))
    assert "1 of 6" in html
    assert 'id="scan"' in html
    assert "autofocus" in html
    task = wave.tasks.order_by("sequence").first()

    wrong_bin = _text(client.post(url, {"task": task.pk, "code": "A-02"}, follow=True))
    assert "Wrong bin" in wrong_bin
    client.post(url, {"task": task.pk, "code": "A-01"})
    wrong_item = _text(client.post(url, {"task": task.pk, "code": "222"}, follow=True))
    assert "Wrong item" in wrong_item
    done = _text(client.post(url, {"task": task.pk, "code": "111"}, follow=True))

    assert "SKU-A: all 1 picked" in done
    assert "2 of 6" in done


def test_handheld_short_button_reports_a_short_pick(client, warehouse_user, site, orders):
    (wave,) = waves_build(warehouse=site)
    client.force_login(warehouse_user)
    task = wave.tasks.order_by("sequence").first()

    html = _text(
        client.post(f"/warehouse/pick/{wave.pk}/", {"task": task.pk, "found": 0}, follow=True)
    )

    assert "Short: 1 of SKU-A missing at A-01" in html
    task.refresh_from_db()
    assert task.status == PickTask.Status.SHORT


def test_pick_list_pdfs_name_bins_and_skus(client, warehouse_user, site, orders):
    (wave,) = waves_build(warehouse=site)
    client.force_login(warehouse_user)
    shipment = Shipment.objects.filter(pick_wave=wave).first()

    for url in (
        f"/warehouse/waves/{wave.pk}/pick-list.pdf",
        f"/warehouse/shipments/{shipment.pk}/pick-list.pdf",
    ):
        response = client.get(url)
        assert response["Content-Type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
        assert "A-01" in text
        assert "SKU-A" in text
        assert "SKU-B" in text


def test_an_agent_may_not_pick(client, agent, site, orders):
    (wave,) = waves_build(warehouse=site)
    client.force_login(agent)
    assert client.get(f"/warehouse/pick/{wave.pk}/").status_code == 403
    assert client.post("/warehouse/waves/build/", {"warehouse": site.code}).status_code == 403
