"""Files served under /static: package data, read with importlib.resources
(pyproject.toml maps this directory to `warroom.static`)."""
