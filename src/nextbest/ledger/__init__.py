"""The points ledger: the program as a file, earn/burn rules, postings, tiers, expiry, liability.

Pure decisions (``program``, ``earn``, ``tiers``, ``book``, ``breakage``, ``liability``) take
time as an argument and touch no database; ``repository`` and ``service`` are the storage
side, one transaction per use case.
"""
