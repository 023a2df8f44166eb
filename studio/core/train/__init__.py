"""Training: one loop (`loop.fit`) observed through events (`events.py`), controlled through a
TrainControl (`control.py`). Importing this package loads nothing: each module is imported by name."""
