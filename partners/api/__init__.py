"""The versioned partner API: one module per resource, thin views over the domain apps' services
and selectors (partners sits above orders, inventory, logistics and returns).
"""
