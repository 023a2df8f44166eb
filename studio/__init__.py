"""Torch Studio: build, train and export PyTorch models.

Importing the package loads neither torch nor Qt, so the window can appear before torch does.
"""

__version__ = "0.1.0"
