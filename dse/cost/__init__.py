"""Cost model: hardware profiles, memory, time and energy."""
