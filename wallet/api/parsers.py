from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from wallet import money


class DecimalJSONParser(JSONParser):
    """JSON numbers become Decimal (never float); NaN and Infinity are refused."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return money.loads(stream.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
