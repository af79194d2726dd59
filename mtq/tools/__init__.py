"""Tools around the service.

- ``plan`` (+ ``plan_sim``, ``route_scaling``): KEDA settings from a measured throughput.
- ``convert``: a HF model into a CTranslate2 folder (``mtq convert``).
- ``tiny_model`` (+ ``tiny_multilingual``, ``tiny_corpus``): small offline test models.
- ``synth_pair``: a synthetic language pair with known word alignment; ``train_pair`` trains
  a Marian model on it, ``trained_model`` ships it (``mtq tiny-model --kind trained``).
- ``loop/``: the training loop's steps: ``mtq split``, ``mtq evaluate``, ``mtq promote``.
- ``demo``: the whole pipeline on this machine, ending with a verified webhook.
"""
