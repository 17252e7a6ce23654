"""ProphetX wire protocol: pure parsing and rendering, odds arithmetic, the REST client.

Nothing in this package touches the database. Parsers take bytes or text and return frozen
dataclasses, or raise `ProtocolError` carrying a ProphetX-style error code.
"""
