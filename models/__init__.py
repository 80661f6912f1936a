"""The spiking network: parameters, recipes, encoders, learning rules and engines."""
