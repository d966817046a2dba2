"""Plans: what a smash will do, decided without touching the model; rendering and verification (floor 4)."""
