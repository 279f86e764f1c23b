"""Anonymizer sources (Tor, VPN, hosting and relay lists, MMDBs).

Loading, matching, verdicts and updating.
"""
