"""The web console: server-rendered pages over the same capabilities as the API.

Served by ``nextbest serve`` beside the API (``/console``). Pages are Jinja2 templates,
charts are SVG drawn here, the stylesheet and script ship in this package: nothing is
fetched from the internet at runtime.
"""
