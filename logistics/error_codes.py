"""Stable machine-readable error codes of the logistics domain (problem+json `code`)."""

SHIPMENT_NOT_FOUND = "shipment_not_found"
SHIPMENT_NOT_RETRYABLE = "shipment_not_retryable"
PROVIDER_NOT_FOUND = "provider_not_found"
PROVIDER_REJECTED = "provider_rejected"
DOCUMENT_NOT_FOUND = "document_not_found"
SHIPMENT_NOT_REROUTABLE = "shipment_not_reroutable"
