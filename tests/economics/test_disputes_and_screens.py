"""Disputes move through their flow with who and when; the ops screens import an invoice
as a background job with progress and show the reconciliation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import IllegalTransition, ValidationFailed
from economics.models import Dispute, InvoiceImportJob
from economics.services.disputes import dispute_decide, disputes_csv
from economics.services.invoice_import import lsp_invoice_import
from economics.services.invoice_jobs import invoice_import_job_run
from tests.economics.test_invoice_import import HEADER, bill, dispatched_shipments

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def reconciled():
    provider, shipments = dispatched_shipments(3)
    text = HEADER + "".join(bill(shipments[0]) + bill(shipments[1], scale=Decimal("1.1")))
    return provider, lsp_invoice_import(provider_code=provider.code, text=text)


def test_a_dispute_is_disputed_with_a_note_then_credited_and_then_settled(reconciled):
    _, invoice = reconciled
    dispute = invoice.disputes.filter(kind="overcharged").first()

    with pytest.raises(ValidationFailed):
        dispute_decide(dispute_id=dispute.pk, to_status="disputed", note=" ", actor="m")
    dispute_decide(dispute_id=dispute.pk, to_status="disputed", note="Card says 5.00", actor="m")
    dispute_decide(dispute_id=dispute.pk, to_status="credited", note="", actor="n")
    with pytest.raises(IllegalTransition, match="it is settled"):
        dispute_decide(dispute_id=dispute.pk, to_status="accepted", note="", actor="m")

    dispute.refresh_from_db()
    assert (dispute.status, dispute.note, dispute.decided_by) == ("credited", "Card says 5.00", "n")
    assert list(dispute.events.values_list("from_status", "to_status", "actor")) == [
        ("open", "disputed", "m"),
        ("disputed", "credited", "n"),
    ]
    csv_text = disputes_csv(invoice=invoice)
    assert "credited,Card says 5.00,n," in csv_text


def test_an_open_dispute_cannot_be_credited_before_it_is_disputed(reconciled):
    _, invoice = reconciled
    dispute = invoice.disputes.first()
    with pytest.raises(IllegalTransition, match="it can become accepted, disputed, written_off"):
        dispute_decide(dispute_id=dispute.pk, to_status="credited", note="", actor="m")


def test_the_upload_runs_as_a_job_and_lands_on_the_reconciliation(
    client, manager, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    provider, shipments = dispatched_shipments(2)
    client.force_login(manager)
    upload = SimpleUploadedFile("inv.csv", (HEADER + "".join(bill(shipments[0]))).encode())

    response = client.post(
        reverse("backoffice:invoices"), {"provider": provider.code, "file": upload}
    )

    job = InvoiceImportJob.objects.get()
    assert response["Location"] == reverse("backoffice:invoice_job", args=[job.pk])
    status = client.get(reverse("backoffice:invoice_job_status", args=[job.pk])).json()
    assert (status["status"], status["finished"], status["percent"]) == ("queued", False, 0)
    invoice_import_job_run(job_id=job.pk)
    status = client.get(reverse("backoffice:invoice_job_status", args=[job.pk])).json()
    assert (status["status"], status["finished"], status["percent"]) == ("done", True, 100)
    job.refresh_from_db()
    landing = client.get(reverse("backoffice:invoice_job_result", args=[job.pk]))
    assert landing["Location"] == reverse("backoffice:invoice_detail", args=[job.invoice_id])
    page = client.get(landing["Location"]).content.decode()
    assert "Work not invoiced" in page
    assert invoice_import_job_run(job_id=job.pk) is None  # a second run does nothing


def test_a_refused_file_fails_the_job_with_every_bad_line(client, manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    provider, _ = dispatched_shipments(1)
    client.force_login(manager)
    bad = HEADER + "INV,,R,,parcel,,1,abc,EUR,\n"
    client.post(
        reverse("backoffice:invoices"),
        {"provider": provider.code, "file": SimpleUploadedFile("x.csv", bad.encode())},
    )
    job = InvoiceImportJob.objects.get()

    invoice_import_job_run(job_id=job.pk)

    page = client.get(reverse("backoffice:invoice_job", args=[job.pk])).content.decode()
    assert "line 2: amount: &#x27;abc&#x27; is not an amount" in page
    assert job.__class__.objects.get().status == "failed"


def test_a_manager_disputes_a_line_from_the_screen(client, manager, reconciled):
    _, invoice = reconciled
    dispute = invoice.disputes.filter(kind="overcharged").first()
    client.force_login(manager)
    url = reverse("backoffice:dispute_detail", args=[dispute.pk])

    client.post(url, {"to_status": "disputed", "note": "Card says otherwise"})

    dispute.refresh_from_db()
    assert (dispute.status, dispute.decided_by) == ("disputed", "manager")
    assert "manager: open → disputed — Card says otherwise" in client.get(url).content.decode()


def test_agents_and_the_warehouse_see_no_invoices(client, agent, warehouse_user, reconciled):
    for user in (agent, warehouse_user):
        client.force_login(user)
        assert client.get(reverse("backoffice:invoices")).status_code == 403


def test_the_invoice_page_lists_disputes_in_a_fixed_number_of_queries(
    client, manager, reconciled, django_assert_max_num_queries
):
    _, invoice = reconciled
    client.force_login(manager)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("backoffice:invoice_detail", args=[invoice.pk]))
    assert response.status_code == 200
    assert Dispute.objects.filter(invoice=invoice).count() == len(response.context["disputes"])


def test_a_job_whose_file_is_gone_fails_with_a_reason_instead_of_running_for_ever(
    client, manager, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    provider, shipments = dispatched_shipments(1)
    client.force_login(manager)
    client.post(
        reverse("backoffice:invoices"),
        {"provider": provider.code, "file": SimpleUploadedFile("y.csv", b"whatever")},
    )
    job = InvoiceImportJob.objects.get()
    (tmp_path / job.file.name).unlink()

    invoice_import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == (
        "The uploaded file cannot be read (No such file or directory); upload it again."
    )
