"""Rule schema, compiler, engine, fact and action catalogues, simulation."""
