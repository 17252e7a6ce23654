"""Pure UOF protocol code: message and REST parsing, routing keys, names, the REST client.

Nothing here touches the database or Django settings.
"""
