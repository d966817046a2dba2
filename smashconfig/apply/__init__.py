"""The only floor that changes a model: smash, its snapshot and rollback, calibration, progress, saving (floor 5)."""
