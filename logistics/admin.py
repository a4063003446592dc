# Admin for the models of the foundation lives here (branch `seed`); the dispatch and
# tracking models register themselves in admin_ops.
from logistics import admin_ops  # noqa: F401, E402
