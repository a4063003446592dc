"""The pure allocation planner (no database): which warehouses, and why."""

from orders.services.allocation_policy import MAX_EXACT_WAREHOUSES, plan_allocation

CODES = {i: f"w{i}" for i in range(1, 13)}


def test_single_warehouse_prefers_priority_order():
    plan = plan_allocation(
        needs={10: 2}, warehouses=[1, 2, 3], available={(10, 2): 5, (10, 3): 5}, codes=CODES
    )

    assert (plan.strategy, plan.picks) == ("single", {10: [(2, 2)]})
    assert "higher-priority w1 cannot" in plan.reason


def test_split_ties_go_to_the_highest_priority_pair():
    available = {(10, 1): 1, (11, 2): 1, (10, 3): 1, (11, 3): 0, (11, 4): 1}

    plan = plan_allocation(
        needs={10: 1, 11: 1}, warehouses=[1, 2, 3, 4], available=available, codes=CODES
    )

    assert (plan.strategy, plan.picks) == ("split", {10: [(1, 1)], 11: [(2, 1)]})


def test_split_keeps_a_product_whole_where_possible():
    available = {(10, 1): 1, (10, 2): 3, (11, 1): 1}

    plan = plan_allocation(
        needs={10: 3, 11: 1}, warehouses=[1, 2], available=available, codes=CODES
    )

    assert plan.picks == {10: [(2, 3)], 11: [(1, 1)]}


def test_more_warehouses_than_the_exact_limit_split_greedily():
    warehouses = list(range(1, MAX_EXACT_WAREHOUSES + 3))
    available = {(10, w): 1 for w in warehouses}

    plan = plan_allocation(needs={10: 3}, warehouses=warehouses, available=available, codes=CODES)

    assert (plan.strategy, plan.picks) == ("split", {10: [(1, 1), (2, 1), (3, 1)]})


def test_partial_never_takes_negative_availability():
    plan = plan_allocation(
        needs={10: 4}, warehouses=[1, 2], available={(10, 1): -2, (10, 2): 1}, codes=CODES
    )

    assert (plan.strategy, plan.picks) == ("partial", {10: [(2, 1)]})


def test_no_warehouses_backorders_everything():
    plan = plan_allocation(needs={10: 1}, warehouses=[], available={}, codes=CODES)

    assert (plan.strategy, plan.picks) == ("none", {})
