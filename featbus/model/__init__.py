"""The model file and the loaded model.

In the shape of skops ``io/``: :mod:`~featbus.model.format` (the file format: manifest, pipeline,
networks), :mod:`~featbus.model.trust` (what a file may create without the user's trust),
:mod:`~featbus.model.loaded` (:class:`FeatbusModel`, :func:`load_model`: predicting imports no
training), :mod:`~featbus.model.runtime` (the networks' inference runtime) and
:mod:`~featbus.model.domain` (the out-of-domain reference a model file carries) and
:mod:`~featbus.model.scale` (the input scale a model brings every image to). The names below
are imported lazily (``featbus/model/__init__.pyi``).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
