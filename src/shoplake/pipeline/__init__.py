"""The framework: tables, expectations, the graph, flows and the runner."""
