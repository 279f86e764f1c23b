"""Reading logs: files and compression, format presets, detection, parsing, the native scanner.

Imports only the package's core (``schema``, ``errors``, ``_clf``).
"""
