"""Reports: pure figure builders and self-contained HTML writers.

``figures`` (records -> plotly figures, pure), ``html`` (one self-contained page,
written atomically), ``build`` (gathers what the page shows: the study's
result, the selected model's files and costs), ``terminal`` (rich output of
`dse explore`).
"""
