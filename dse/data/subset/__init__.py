"""Bundled class-balanced subsets of MNIST and Fashion-MNIST (offline default)."""
