"""The web dashboard (Streamlit + plotly) and the self-contained HTML report over gold
and system tables.

Reads the lake only through ``observe/`` and the engine (``create_engine``); may
turn results into Polars frames for display.
"""
