"""Connector classes by ChannelConnector.kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from partners.connectors.base import Connector

if TYPE_CHECKING:
    from partners.models import ChannelConnector


def connector_for(connector: ChannelConnector) -> Connector:
    """The client for `connector`'s kind, with its (decrypted) credentials."""
    from partners.connectors.woocommerce import WooCommerceConnector

    kinds: dict[str, type[WooCommerceConnector]] = {"woocommerce": WooCommerceConnector}
    try:
        cls = kinds[connector.kind]
    except KeyError:
        raise ValueError(f"Unknown connector kind {connector.kind!r}.") from None
    return cls(
        base_url=connector.base_url,
        consumer_key=connector.consumer_key,
        consumer_secret=connector.consumer_secret,
    )
