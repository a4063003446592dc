"""Settings of bench/api_intake.py: the production settings plus the floor view's URLconf."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_intake_urls"
