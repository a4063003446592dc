"""JSON parsing that refuses what Postgres would later choke on."""

import io
import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.json_input import MAX_JSON_DEPTH, json_depth_exceeds


class StrictJSONParser(JSONParser):
    """JSON whose strings are valid Unicode text, nested at most MAX_JSON_DEPTH levels.

    JSON may carry lone surrogates ("\\ud800"), which cannot be encoded as UTF-8
    for Postgres; they are rejected here as a 400 rather than failing as a 500
    deep inside a query. (NUL characters are refused by the serializers' fields.)
    Deep nesting is refused before parsing (core/json_input.py): no order body
    comes near the limit, and a parser's recursion never starts on it.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read()
        if json_depth_exceeds(body):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, ValueError, RecursionError) as exc:
            raise ParseError("JSON parse error - strings must be valid Unicode text.") from exc
        return data
