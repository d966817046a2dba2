"""SmashConfig, the ConfigurationSpace behind it, and its YAML/JSON forms (floor 3)."""
