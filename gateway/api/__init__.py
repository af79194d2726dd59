"""The HTTP endpoints, one module per API family, and what they share.

Module map:

- ``jobs``: ``/v1/jobs`` (submit, status, cancel) and ``/v1/languages``.
- ``deepl``: ``/v2/translate`` and ``/v2/languages`` (DeepL API v2 subset).
- ``libre``: ``/translate`` and ``/languages`` (LibreTranslate).
- ``bodies``: JSON or form request bodies of the compatible APIs.
- ``models``: request and response bodies as the OpenAPI schema documents them.
- ``langs``: DeepL and LibreTranslate language codes onto the routes served.
"""
