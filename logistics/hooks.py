"""What logistics needs from the layers above it, as ports they fill at startup.

logistics may not import orders or returns (docs/architecture.md). Where a logistics
service must tell them something (a shipment was dispatched, tracking moved a parcel),
it calls a port declared here; orders and returns register the implementations in
their AppConfig.ready(). Each port documents when it is called and in which
transaction.
"""

from __future__ import annotations
