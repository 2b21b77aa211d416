"""featbus: breast ultrasound and mammogram images to feature matrices for classical ML.

Every piece is a scikit-learn transformer. Public names are imported lazily, so
``import featbus`` stays fast and needs no TensorFlow until :class:`DeepFeatures` or
:class:`UNetSegmenter` is used. The names and the modules that define them are listed once, as
plain imports, in ``featbus/__init__.pyi`` (scikit-image's way: :func:`lazy_loader.attach_stub`
reads the stub, and type checkers and editors follow it).
"""

import logging as _logging

import lazy_loader as _lazy

from ._version import __version__ as __version__

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

# the "featbus" logger says nothing unless the application configures logging (a library's
# duty: the logging HOWTO, "Configuring Logging for a Library"); featbus -v / --log-file does
_logging.getLogger(__name__).addHandler(_logging.NullHandler())
