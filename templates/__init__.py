"""Jinja2 templates of the screens and the report texts: package data, read with
importlib.resources (pyproject.toml maps this directory to `warroom.templates`)."""
