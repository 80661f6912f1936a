"""Design-space search: space, objectives and constraints, strategies, Pareto fronts."""
