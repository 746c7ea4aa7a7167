"""
The learning benchmark's report, which ``benchmarks/plot_results.py`` writes from the CSVs: :mod:`report.runs` loads
them, :mod:`report.statistics` computes the comparisons, :mod:`report.tables` renders them as Markdown or reST tables,
:mod:`report.pages` writes the docs' pages and the README's table, and :mod:`report.plots` draws the plots.
"""
