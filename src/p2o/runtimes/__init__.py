"""One Runner per inference engine, behind the small interface of ``base``."""
