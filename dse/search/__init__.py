"""Design-space search: space, objectives and constraints, strategies, Pareto fronts.

Modules, in the order data flows through them:

* ``space``      -- the search space, declared once (``DEFAULT_SPACE``), and ``Candidate``;
* ``costs``      -- the only door to the cost model (memory, energy, hardware comparison);
* ``evaluate``   -- training a candidate (run folders cached by configuration hash);
  ``synthetic`` is its test double;
* ``objectives`` -- objectives, budgets (constraints) and the settings of a study;
* ``runner``     -- one trial: prefilter, fidelity rungs, constraint values;
* ``strategies`` -- optuna (multi-objective TPE), incremental (FSpiNN Algorithm 2), grid;
* ``study``      -- create, resume and check Optuna studies;
* ``records``, ``pareto``, ``select`` -- trials as records, the feasible front, choosing one model;
* ``explore``    -- all of it as one call, and the trials.csv / pareto.json outputs.
"""
