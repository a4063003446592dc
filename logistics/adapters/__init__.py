"""Provider adapters: see base.ProviderAdapter and registry.adapter_for."""
