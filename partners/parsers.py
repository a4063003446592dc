"""JSON parsing that refuses what Postgres would later choke on."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """JSON whose strings are valid Unicode text.

    JSON may carry lone surrogates ("\\ud800"), which cannot be encoded as UTF-8
    for Postgres; they are rejected here as a 400 rather than failing as a 500
    deep inside a query. (NUL characters are refused by the serializers' fields.)
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, ValueError, RecursionError) as exc:
            raise ParseError("JSON parse error - strings must be valid Unicode text.") from exc
        return data
