"""Local fake platform servers the tests drive the real SDK clients against."""
