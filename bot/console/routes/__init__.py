"""The console's pages, one module (a Sanic blueprint) per resource."""
