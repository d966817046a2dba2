"""Search the configuration space for the configs on the size/quality Pareto front (extra ``tune``)."""
