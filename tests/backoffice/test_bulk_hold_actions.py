"""Issue 16 item 16: bulk release and owner assignment of holds from the exception queue."""

import pytest

from backoffice.models import BulkJob
from backoffice.services import bulk_assign_job_create, bulk_job_run, bulk_release_job_create
from core.errors import Conflict, ValidationFailed
from orders.models import Hold, Order, OrderEvent
from orders.services.holds import order_hold_assign, order_hold_place
from tests.orders.factories import OrderFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def _held(user, *reasons):
    order = OrderFactory(status=Order.Status.ALLOCATED)
    for reason in reasons:
        order_hold_place(order=order, reason=reason, user=user)
    return order


def test_assigning_a_hold_records_old_and_new_owner(agent, manager):
    order = _held(agent, "manual")
    hold = order.holds.get()

    order_hold_assign(hold=hold, owner=manager, user=manager)

    hold.refresh_from_db()
    assert hold.owner == manager
    event = order.events.get(type=OrderEvent.Type.HOLD_ASSIGNED)
    assert (event.parameters["previous_owner"], event.parameters["owner"]) == ("agent", "manager")
    assert event.user == manager


def test_assigning_to_the_current_owner_records_nothing(agent):
    order = _held(agent, "manual")
    order_hold_assign(hold=order.holds.get(), owner=agent, user=agent)
    assert not order.events.filter(type=OrderEvent.Type.HOLD_ASSIGNED).exists()


def test_a_released_hold_cannot_be_assigned(agent, manager):
    order = _held(agent, "manual")
    hold = order.holds.get()
    Hold.objects.filter(pk=hold.pk).update(released_at=order.created_at)
    with pytest.raises(Conflict):
        order_hold_assign(hold=hold, owner=manager, user=manager)


def test_only_active_staff_can_own_a_hold(agent, make_user):
    order = _held(agent, "manual")
    outsider = make_user("outsider", staff=False)
    with pytest.raises(ValidationFailed):
        order_hold_assign(hold=order.holds.get(), owner=outsider, user=agent)
    with pytest.raises(ValidationFailed):
        bulk_assign_job_create(user=agent, order_ids=[order.pk], owner=outsider)


def test_bulk_release_releases_every_active_hold_and_reports_orders_without_one(manager):
    two = _held(manager, "manual", "fraud_review")
    one = _held(manager, "customer_request")
    none = OrderFactory(status=Order.Status.ALLOCATED)

    job = bulk_release_job_create(user=manager, order_ids=[two.pk, one.pk, none.pk], note="checked")
    job = bulk_job_run(job_id=job.pk)

    assert (job.status, job.succeeded, job.failed) == (BulkJob.Status.DONE, 2, 1)
    assert not Hold.objects.filter(order__in=[two, one], released_at__isnull=True).exists()
    assert Hold.objects.filter(released_by=manager, release_note="checked").count() == 3
    outcomes = {row[0]: (row[1], row[2]) for row in job.results}
    assert outcomes[none.number] == ("failed", f"Order {none.number} has no active hold.")
    for order in (two, one):
        order.refresh_from_db()
        assert order.status != Order.Status.ON_HOLD


def test_bulk_release_for_one_reason_leaves_the_other_holds(manager):
    order = _held(manager, "manual", "fraud_review")

    job = bulk_release_job_create(user=manager, order_ids=[order.pk], reason="manual")
    bulk_job_run(job_id=job.pk)

    active = Hold.objects.filter(order=order, released_at__isnull=True)
    assert [hold.reason for hold in active] == ["fraud_review"]
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD


def test_bulk_assign_gives_every_active_hold_to_the_owner(agent, manager):
    orders = [_held(agent, "manual", "fraud_review"), _held(agent, "manual")]

    job = bulk_assign_job_create(user=manager, order_ids=[o.pk for o in orders], owner=manager)
    job = bulk_job_run(job_id=job.pk)

    assert (job.succeeded, job.failed) == (2, 0)
    assert set(Hold.objects.values_list("owner__username", flat=True)) == {"manager"}
    assert OrderEvent.objects.filter(type=OrderEvent.Type.HOLD_ASSIGNED).count() == 3


def test_queue_selection_starts_release_and_assign_jobs(client, agent, manager):
    orders = [_held(agent, "manual"), _held(agent, "manual")]
    ids = [o.pk for o in orders]
    client.force_login(manager)

    queue = client.get("/ops/exceptions/?kind=hold").content.decode()
    assert 'value="release"' in queue
    assert 'value="assign"' in queue
    assert f'<option value="{manager.pk}">manager</option>' in queue

    response = client.post("/ops/bulk-hold/", {"action": "release", "order_ids": ids})
    assert response.status_code == 303
    release = BulkJob.objects.get(kind=BulkJob.Kind.BULK_RELEASE)
    assert release.order_ids == ids

    response = client.post(
        "/ops/bulk-hold/", {"action": "assign", "order_ids": ids, "owner": manager.pk}
    )
    assert response.status_code == 303
    assign = BulkJob.objects.get(kind=BulkJob.Kind.BULK_ASSIGN)
    assert assign.parameters["owner_id"] == manager.pk


def test_assign_without_an_owner_is_shown_again(client, agent, manager):
    order = _held(agent, "manual")
    client.force_login(manager)
    response = client.post("/ops/bulk-hold/", {"action": "assign", "order_ids": [order.pk]})
    assert response.status_code == 422
    assert "Choose who will own the holds." in response.content.decode()
    assert not BulkJob.objects.exists()


@pytest.mark.parametrize(
    ("action", "perm"), [("release", "release_hold"), ("assign", "place_hold")]
)
def test_bulk_release_and_assign_need_the_hold_permissions(
    client, make_user, manager, agent, action, perm
):
    from django.contrib.auth.models import Permission

    order = _held(agent, "manual")
    viewer = make_user("viewer")
    viewer.user_permissions.set(
        Permission.objects.filter(codename__in=["view_dashboard", "view_order"])
    )
    client.force_login(viewer)

    response = client.post(
        "/ops/bulk-hold/", {"action": action, "order_ids": [order.pk], "owner": manager.pk}
    )

    assert response.status_code == 403
    assert not BulkJob.objects.exists()
    assert f'value="{action}"' not in client.get("/ops/exceptions/").content.decode()
