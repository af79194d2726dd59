"""Models from the MLflow model registry: ``models:/NAME@ALIAS`` and ``models:/NAME/VERSION``.

Module map:

- ``uri.py``: pure: parse and recognise a registry URI.
- ``client.py``: the one MLflow code: resolve a URI to a version (name, version, alias, run,
  source) and download a version's artifacts.
- ``layout.py``: turn what was downloaded (a ``mlflow.transformers`` model or a plain HF folder
  logged as artifacts) into one folder ``from_pretrained`` reads.
- ``store.py``: the local cache, one folder per name and version (the HF files, and each
  CTranslate2 conversion of them), filled once and atomically.
- ``loader.py``: the engine loader the worker uses: registry URIs through the store, anything
  else straight to ``load_engine``; the engine's ``model`` block gains ``registry``.
- ``rollover.py``: watch each alias served; load and warm a moved alias's version beside the
  old one, switch new jobs to it, free the old one when no job in flight holds it.
- ``shadow.py``: ``MTQ_SHADOW``: a share of answered jobs translated again by a challenger
  while the worker is idle, the results dropped, agreement exported.
"""
