"""Pure rules of the one-stop mechanism, shared by the workflow, the activities and the API.

Nothing here does I/O or reads the clock, so the workflow may call any of it deterministically.
"""
