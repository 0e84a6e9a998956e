"""The website chat widget: its script and styles, and the demo clinic page (:8000)."""
