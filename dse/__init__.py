"""snn-dse: design-space exploration for spiking neural networks on small hardware."""

__version__ = "0.1.0"
