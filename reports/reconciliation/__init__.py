"""Provider reconciliation: a provider's transaction export (CSV) against our records.

csvfile.py is the protocol (streaming parse, column mapping, validation naming the line),
matching.py the domain (our records for the period, the comparison), services.py runs it.
"""
