"""The LSP sandbox: a stand-alone HTTP service behaving like a 3PL/carrier."""
