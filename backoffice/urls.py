from django.urls import path

from backoffice.views import bins, desk, economics, home, ops, picking, returns, routing, warehouse

app_name = "backoffice"

urlpatterns = [
    path("", home.home, name="home"),
    path("desk/", desk.desk_search, name="desk"),
    path("desk/orders/<str:number>/", desk.order_detail, name="order_detail"),
    path("desk/orders/<str:number>/hold/", desk.order_hold_place, name="order_hold_place"),
    path(
        "desk/orders/<str:number>/holds/<int:hold_id>/release/",
        desk.order_hold_release,
        name="order_hold_release",
    ),
    path("desk/orders/<str:number>/notes/", desk.order_note_add, name="order_note_add"),
    path("desk/orders/<str:number>/address/", desk.order_address_change, name="order_address"),
    path("desk/orders/<str:number>/cancel/", desk.order_cancel, name="order_cancel"),
    path("desk/orders/<str:number>/cancel-rest/", desk.order_cancel_rest, name="order_cancel_rest"),
    path(
        "desk/orders/<str:number>/returns/",
        returns.order_return_request,
        name="order_return_request",
    ),
    path(
        "desk/shipments/<int:shipment_id>/documents/<slug:kind>.pdf",
        returns.shipment_document,
        name="shipment_document",
    ),
    path("warehouse/returns/", returns.return_queue, name="return_queue"),
    path(
        "warehouse/returns/<int:return_id>/",
        returns.return_receive_view,
        name="return_receive",
    ),
    path("warehouse/stock/", warehouse.stock_list, name="stock_list"),
    path("warehouse/stock/export.csv", warehouse.stock_export, name="stock_export"),
    path("warehouse/stock/<int:level_id>/", warehouse.stock_detail, name="stock_detail"),
    path("warehouse/stock/<int:level_id>/adjust/", warehouse.stock_adjust, name="stock_adjust"),
    path("warehouse/stock/<int:level_id>/count/", warehouse.stock_count, name="stock_count"),
    path("warehouse/stock/<int:level_id>/bin-move/", bins.bin_move, name="bin_move"),
    path("warehouse/bins/", bins.bin_list, name="bin_list"),
    path("warehouse/waves/", picking.wave_list, name="wave_list"),
    path("warehouse/waves/build/", picking.wave_build, name="wave_build"),
    path("warehouse/waves/<int:wave_id>/", picking.wave_detail, name="wave_detail"),
    path("warehouse/waves/<int:wave_id>/cancel/", picking.wave_cancel_view, name="wave_cancel"),
    path(
        "warehouse/waves/<int:wave_id>/pick-list.pdf",
        picking.wave_pick_list_pdf,
        name="wave_pick_list_pdf",
    ),
    path("warehouse/pick/<int:wave_id>/", picking.wave_pick, name="wave_pick"),
    path(
        "warehouse/shipments/<int:shipment_id>/pick-list.pdf",
        picking.shipment_pick_list_pdf,
        name="shipment_pick_list_pdf",
    ),
    path("warehouse/dispatch/", warehouse.dispatch_board, name="dispatch_board"),
    path(
        "warehouse/shipments/<int:shipment_id>/retry/",
        warehouse.shipment_retry,
        name="shipment_retry",
    ),
    path(
        "warehouse/shipments/<int:shipment_id>/reroute/",
        warehouse.shipment_reroute,
        name="shipment_reroute",
    ),
    path(
        "warehouse/shipments/<int:shipment_id>/cancel-order/",
        warehouse.shipment_order_cancel,
        name="shipment_order_cancel",
    ),
    path("warehouse/inbound/", warehouse.inbound_list, name="inbound_list"),
    path("warehouse/inbound/new/", warehouse.inbound_create, name="inbound_create"),
    path(
        "warehouse/inbound/<int:inbound_id>/cancel/",
        warehouse.inbound_cancel,
        name="inbound_cancel",
    ),
    path(
        "warehouse/inbound/<int:inbound_id>/send-retry/",
        warehouse.inbound_send_retry,
        name="inbound_send_retry",
    ),
    path("warehouse/inbound/<int:inbound_id>/", warehouse.inbound_detail, name="inbound_detail"),
    path(
        "warehouse/inbound/<int:inbound_id>/receive/",
        warehouse.inbound_receive,
        name="inbound_receive",
    ),
    path(
        "warehouse/inbound/<int:inbound_id>/close/", warehouse.inbound_close, name="inbound_close"
    ),
    path("ops/exceptions/", ops.exception_queue, name="exceptions"),
    path(
        "ops/webhook-endpoints/<int:endpoint_id>/enable/",
        ops.webhook_endpoint_enable,
        name="webhook_endpoint_enable",
    ),
    path("ops/dashboard/", ops.dashboard, name="dashboard"),
    path("ops/bulk-hold/", ops.bulk_hold, name="bulk_hold"),
    path("ops/jobs/<int:job_id>/", ops.job_detail, name="job_detail"),
    path("ops/jobs/<int:job_id>/status.json", ops.job_status, name="job_status"),
    path("ops/jobs/<int:job_id>/result.csv", ops.job_result, name="job_result"),
    path("ops/invoices/", economics.invoices, name="invoices"),
    path("ops/scorecard/", economics.provider_scorecard, name="scorecard"),
    path("ops/scorecard.csv", economics.provider_scorecard_csv, name="scorecard_csv"),
    path("ops/invoices/<int:invoice_id>/", economics.invoice_detail, name="invoice_detail"),
    path(
        "ops/invoices/<int:invoice_id>/disputes.csv",
        economics.invoice_disputes_csv,
        name="invoice_disputes_csv",
    ),
    path("ops/invoices/jobs/<int:job_id>/", economics.invoice_job, name="invoice_job"),
    path(
        "ops/invoices/jobs/<int:job_id>/status.json",
        economics.invoice_job_status,
        name="invoice_job_status",
    ),
    path(
        "ops/invoices/jobs/<int:job_id>/invoice/",
        economics.invoice_job_result,
        name="invoice_job_result",
    ),
    path("ops/disputes/<int:dispute_id>/", economics.dispute_detail, name="dispute_detail"),
    path("ops/routing/", routing.rulesets, name="routing_rulesets"),
    path("ops/routing/<int:ruleset_id>/", routing.ruleset, name="routing_rule_set"),
    path("ops/routing/<int:ruleset_id>/rules/new/", routing.rule_new, name="routing_rule_new"),
    path(
        "ops/routing/<int:ruleset_id>/rules/<int:rule_id>/",
        routing.rule_edit,
        name="routing_rule_edit",
    ),
    path(
        "ops/routing/<int:ruleset_id>/rules/<int:rule_id>/delete/",
        routing.rule_remove,
        name="routing_rule_delete",
    ),
    path(
        "ops/routing/<int:ruleset_id>/rules/<int:rule_id>/move/",
        routing.rule_reorder,
        name="routing_rule_move",
    ),
    path(
        "ops/routing/<int:ruleset_id>/publish/",
        routing.ruleset_publish_view,
        name="routing_publish",
    ),
    path("ops/routing/<int:ruleset_id>/rules.csv", routing.rules_csv, name="routing_rules_csv"),
    path("ops/routing/<int:ruleset_id>/import/", routing.rules_import, name="routing_rules_import"),
]
