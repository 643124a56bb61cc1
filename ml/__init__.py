"""Machine-learning side of the toolkit: data, features, labels, models, validation.

Sub-packages
------------
data      loading, validating, sessions, continuous contracts, resampling
features  80+ causal features and feature selection
labels    fixed-horizon, triple-barrier and meta labels, sample weights
"""

__version__ = "0.1.0"
