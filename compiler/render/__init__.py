"""Pure renderers: values (diagnostics, plans, graphs) to text for people and machines."""
