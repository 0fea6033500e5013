"""Graph passes that hold for any model and any op mapping (one file per pass)."""
